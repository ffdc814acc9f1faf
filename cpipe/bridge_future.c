// bridge_future.c: FutureCore, the C state under cpipe.futures.CommandFuture.
//
// CommandFuture is `class CommandFuture(FutureCore, concurrent.futures.Future)`
// (built by cpipe.futures once this module is loaded): Python's own type
// machinery lays it out (FutureCore's fields, then the weakref slot and the
// managed dict), so it is a real Future subclass, and FutureCore, first in
// its MRO, supplies `_state`, `_result`, `_exception`, `_condition`,
// `_waiters` and `_done_callbacks` as data descriptors over C fields. Future's
// own Python methods (wait, as_completed, add_done_callback, result while
// pending, ...) work on those unchanged; the common calls (done, result and
// exception once FINISHED, cancel) are answered here without them.
//
// Cheap by construction: a future is the object and nothing else until
// someone waits on it or adds a callback (then the Condition and lists are
// made, once, as futures.py's lazy attributes were). And it is not tracked
// by the cyclic GC while it holds only a reply that is not a container: such
// a future cannot be part of a cycle, and 200k of them in flight would
// otherwise be walked by every collection. It is tracked as soon as it
// could be: a waiter, callback, user attribute, or container result.
//
// The lock-free completion rule (see futures.py): a waiter makes
// `_condition` before it checks the state, and resolve sets FINISHED before
// it looks for a condition, both under the GIL: either the waiter sees
// FINISHED, or the resolver sees its condition and wakes it.
#include "bridge_future.h"

typedef struct {
    PyObject_HEAD
    PyObject *state;  // NULL: RUNNING
    PyObject *result, *exception;
    PyObject *condition, *waiters, *callbacks;  // NULL until first asked for
} future_t;

static PyTypeObject FutureCoreType;

// Handed in by configure_futures().
static PyTypeObject *future_class;  // cpipe.futures.CommandFuture
static PyObject *s_running, *s_finished, *condition_type, *wake_fn;
static PyObject *fut_done, *fut_running, *fut_cancelled, *fut_cancel, *fut_result, *fut_exception;  // Future's

#define F(o) ((future_t *)(o))

static void track(PyObject *self) {
    if (!PyObject_GC_IsTracked(self)) PyObject_GC_Track(self);
}

// Whether value may (now or once changed) lead back to the future: any
// object of a GC type, even one not tracked yet (a dict of bytes is not,
// until something tracked goes in). A container reply, or an exception
// (its traceback); bytes, str, int and None cannot.
static int could_lead_back(PyObject *value) { return PyObject_IS_GC(value); }

static int is_finished(future_t *f) { return f->state == s_finished; }
static int is_running(future_t *f) { return f->state == NULL || f->state == s_running; }

PyObject *cp_future_new(void) {
    if (!future_class) {
        PyErr_SetString(PyExc_RuntimeError, "cpipe: configure_futures() was not called");
        return NULL;
    }
    PyObject *self = future_class->tp_alloc(future_class, 0);  // zeroed: RUNNING, nothing else
    if (self) PyObject_GC_UnTrack(self);
    return self;
}

static PyObject *core_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "CommandFuture() takes no arguments");
        return NULL;
    }
    if (!future_class) {
        PyErr_SetString(PyExc_RuntimeError, "cpipe: configure_futures() was not called");
        return NULL;
    }
    PyObject *self = type->tp_alloc(type, 0);
    // A class derived in Python may add fields of its own: keep it tracked.
    if (self && type == future_class) PyObject_GC_UnTrack(self);
    return self;
}

// Deliberately not Future.__init__, which would make the Condition at once.
static int core_init(PyObject *self, PyObject *args, PyObject *kwds) { return 0; }

static int core_traverse(PyObject *self, visitproc visit, void *arg) {
    future_t *f = F(self);
    Py_VISIT(f->state);
    Py_VISIT(f->result);
    Py_VISIT(f->exception);
    Py_VISIT(f->condition);
    Py_VISIT(f->waiters);
    Py_VISIT(f->callbacks);
    return 0;
}

static int core_clear(PyObject *self) {
    future_t *f = F(self);
    Py_CLEAR(f->state);
    Py_CLEAR(f->result);
    Py_CLEAR(f->exception);
    Py_CLEAR(f->condition);
    Py_CLEAR(f->waiters);
    Py_CLEAR(f->callbacks);
    return 0;
}

// Reached through subtype_dealloc, which has cleared the weakrefs and the
// managed dict and drops the heap type's reference.
static void core_dealloc(PyObject *self) {
    PyObject_GC_UnTrack(self);
    core_clear(self);
    Py_TYPE(self)->tp_free(self);
}

// A user attribute may close a cycle through the future.
static int core_setattro(PyObject *self, PyObject *name, PyObject *value) {
    track(self);
    return PyObject_GenericSetAttr(self, name, value);
}

// CommandFuture's `__dict__` (futures.py puts it in the class body, over the
// one Python's type machinery would add): whoever holds the dict can put a
// cycle in it, so the future is tracked first.
static PyObject *get_dict(PyObject *self, void *c) {
    track(self);
    return PyObject_GenericGetDict(self, c);
}

static int set_dict(PyObject *self, PyObject *value, void *c) {
    track(self);
    return PyObject_GenericSetDict(self, value, c);
}

// ---------------------------------------------------------------- descriptors

static PyObject *get_state(PyObject *self, void *c) {
    return Py_NewRef(F(self)->state ? F(self)->state : s_running);
}

static int no_delete(PyObject *value, const char *name) {
    if (value) return 0;
    PyErr_Format(PyExc_AttributeError, "cannot delete %s", name);
    return -1;
}

static int set_state(PyObject *self, PyObject *value, void *c) {
    if (no_delete(value, "_state") < 0) return -1;
    Py_XSETREF(F(self)->state, Py_NewRef(value));
    return 0;
}

static PyObject *get_result(PyObject *self, void *c) {
    return Py_NewRef(F(self)->result ? F(self)->result : Py_None);
}

static PyObject *get_exception(PyObject *self, void *c) {
    return Py_NewRef(F(self)->exception ? F(self)->exception : Py_None);
}

// _result/_exception: a None value is stored as NULL.
static int set_value(PyObject *self, PyObject **slot, PyObject *value, const char *name) {
    if (no_delete(value, name) < 0) return -1;
    if (could_lead_back(value)) track(self);
    Py_XSETREF(*slot, value == Py_None ? NULL : Py_NewRef(value));
    return 0;
}

static int set_result(PyObject *self, PyObject *value, void *c) {
    return set_value(self, &F(self)->result, value, "_result");
}

static int set_exception(PyObject *self, PyObject *value, void *c) {
    return set_value(self, &F(self)->exception, value, "_exception");
}

// The lazy ones: made on first access, once. Making one may run Python code
// (Condition.__init__, or a collection's finalizers) in which another thread
// makes its own: the first stored wins, as dict.setdefault did.
static PyObject *get_lazy(PyObject *self, PyObject **slot, PyObject *(*make)(void)) {
    track(self);
    if (*slot) return Py_NewRef(*slot);
    PyObject *made = make();
    if (!made) return NULL;
    if (*slot) Py_DECREF(made);
    else *slot = made;
    return Py_NewRef(*slot);
}

static PyObject *make_condition(void) { return PyObject_CallNoArgs(condition_type); }
static PyObject *make_list(void) { return PyList_New(0); }

static PyObject *get_condition(PyObject *self, void *c) { return get_lazy(self, &F(self)->condition, make_condition); }
static PyObject *get_waiters(PyObject *self, void *c) { return get_lazy(self, &F(self)->waiters, make_list); }
static PyObject *get_callbacks(PyObject *self, void *c) { return get_lazy(self, &F(self)->callbacks, make_list); }

static int set_lazy(PyObject *self, PyObject **slot, PyObject *value, const char *name) {
    if (no_delete(value, name) < 0) return -1;
    track(self);
    Py_XSETREF(*slot, Py_NewRef(value));
    return 0;
}

static int set_condition(PyObject *self, PyObject *v, void *c) { return set_lazy(self, &F(self)->condition, v, "_condition"); }
static int set_waiters(PyObject *self, PyObject *v, void *c) { return set_lazy(self, &F(self)->waiters, v, "_waiters"); }
static int set_callbacks(PyObject *self, PyObject *v, void *c) { return set_lazy(self, &F(self)->callbacks, v, "_done_callbacks"); }

static PyGetSetDef core_getset[] = {
    {"_state", get_state, set_state, NULL, NULL},
    {"_result", get_result, set_result, NULL, NULL},
    {"_exception", get_exception, set_exception, NULL, NULL},
    {"_condition", get_condition, set_condition, NULL, NULL},
    {"_waiters", get_waiters, set_waiters, NULL, NULL},
    {"_done_callbacks", get_callbacks, set_callbacks, NULL, NULL},
    {"_instance_dict", get_dict, set_dict, "the instance dict (CommandFuture's __dict__); tracks the future", NULL},
    {NULL},
};

// ---------------------------------------------------------------- methods

// Future's own method, for a state other than RUNNING or FINISHED (only
// Future's methods, called on purpose, can put one there).
static PyObject *defer(PyObject *method, PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    PyObject *stack[4];
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw > 3) {  // more than any of Future's methods takes
        PyErr_SetString(PyExc_TypeError, "too many arguments");
        return NULL;
    }
    stack[0] = self;
    for (Py_ssize_t i = 0; i < nargs + nkw; i++) stack[i + 1] = args[i];
    return PyObject_Vectorcall(method, stack, (size_t)(nargs + 1), kwnames);
}

static PyObject *core_done(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (!nargs && !kwnames) {
        if (is_finished(F(self))) Py_RETURN_TRUE;
        if (is_running(F(self))) Py_RETURN_FALSE;
    }
    return defer(fut_done, self, args, nargs, kwnames);
}

static PyObject *core_running(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (!nargs && !kwnames) {
        if (is_finished(F(self))) Py_RETURN_FALSE;
        if (is_running(F(self))) Py_RETURN_TRUE;
    }
    return defer(fut_running, self, args, nargs, kwnames);
}

// A command already sent cannot be cancelled: False, as Future says for RUNNING.
static PyObject *core_cancelled(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (!nargs && !kwnames && (is_finished(F(self)) || is_running(F(self)))) Py_RETURN_FALSE;
    return defer(fut_cancelled, self, args, nargs, kwnames);
}

static PyObject *core_cancel(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (!nargs && !kwnames && (is_finished(F(self)) || is_running(F(self)))) Py_RETURN_FALSE;
    return defer(fut_cancel, self, args, nargs, kwnames);
}

// Whether a result()/exception() call is (timeout) or (timeout=...) at most:
// then, once FINISHED, the timeout does not matter.
static int timeout_only(Py_ssize_t nargs, PyObject *kwnames) {
    if (!kwnames) return nargs <= 1;
    return nargs == 0 && PyTuple_GET_SIZE(kwnames) == 1 &&
           PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "timeout") == 0;
}

static PyObject *core_result(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    future_t *f = F(self);
    if (is_finished(f) && timeout_only(nargs, kwnames)) {
        if (f->exception) {
            // As Future's `raise self._exception`: the traceback grows from the one it has.
            PyErr_SetObject((PyObject *)Py_TYPE(f->exception), f->exception);
            return NULL;
        }
        return Py_NewRef(f->result ? f->result : Py_None);
    }
    return defer(fut_result, self, args, nargs, kwnames);
}

static PyObject *core_exception(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    future_t *f = F(self);
    if (is_finished(f) && timeout_only(nargs, kwnames)) return Py_NewRef(f->exception ? f->exception : Py_None);
    return defer(fut_exception, self, args, nargs, kwnames);
}

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
static PyMethodDef core_methods[] = {
    {"done", (PyCFunction)(void (*)(void))core_done, FASTKW, "Return True if the future was cancelled or finished executing."},
    {"running", (PyCFunction)(void (*)(void))core_running, FASTKW, "Return True if the future is currently executing."},
    {"cancelled", (PyCFunction)(void (*)(void))core_cancelled, FASTKW, "Return True if the future was cancelled."},
    {"cancel", (PyCFunction)(void (*)(void))core_cancel, FASTKW, "A command already sent cannot be cancelled: False."},
    {"result", (PyCFunction)(void (*)(void))core_result, FASTKW, "result(timeout=None): the reply, raising an error reply."},
    {"exception", (PyCFunction)(void (*)(void))core_exception, FASTKW, "exception(timeout=None): the error reply, or None."},
    {NULL},
};

static PyTypeObject FutureCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cpipe._native.FutureCore",
    .tp_doc = "The C state of cpipe.futures.CommandFuture (a concurrent.futures.Future).",
    .tp_basicsize = sizeof(future_t),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = core_new,
    .tp_init = core_init,
    .tp_dealloc = core_dealloc,
    .tp_traverse = core_traverse,
    .tp_clear = core_clear,
    .tp_setattro = core_setattro,
    .tp_getset = core_getset,
    .tp_methods = core_methods,
};

int cp_future_add_types(PyObject *module) {
    if (PyType_Ready(&FutureCoreType) < 0) return -1;
    Py_INCREF(&FutureCoreType);
    if (PyModule_AddObject(module, "FutureCore", (PyObject *)&FutureCoreType) < 0) {
        Py_DECREF(&FutureCoreType);
        return -1;
    }
    return 0;
}

// ---------------------------------------------------------------- completion

int cp_future_resolve(PyObject *fut, PyObject *value) {
    future_t *f = F(fut);
    PyObject *old;
    if (could_lead_back(value)) track(fut);
    if (PyExceptionInstance_Check(value)) {
        old = f->exception;
        f->exception = Py_NewRef(value);
    } else {
        old = f->result;
        f->result = value == Py_None ? NULL : Py_NewRef(value);
    }
    Py_XSETREF(f->state, Py_NewRef(s_finished));
    // The state is written before this look (see the top of this file).
    int r = 0;
    if (f->condition || f->waiters || f->callbacks) {
        PyObject *w = PyObject_CallOneArg(wake_fn, fut);
        if (!w) r = -1;
        Py_XDECREF(w);
    }
    Py_XDECREF(old);  // after: its finalizer must not see the future half done
    return r;
}

static int check_future(PyObject *o) {
    if (PyObject_TypeCheck(o, &FutureCoreType)) return 0;
    PyErr_Format(PyExc_TypeError, "resolve: expected a cpipe CommandFuture, got %.100s", Py_TYPE(o)->tp_name);
    return -1;
}

PyObject *cp_py_resolve(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "resolve(fut, value)"); return NULL; }
    if (check_future(args[0]) < 0 || cp_future_resolve(args[0], args[1]) < 0) return NULL;
    Py_RETURN_NONE;
}

// resolve_batch(items, replies, forgotten): a staged batch's items get their
// replies, in order. An item that is a fire_and_forget record (a tuple)
// hands only an error to forgotten(record, error). Every item is completed
// even if a callback fails; the first such error is raised at the end.
PyObject *cp_py_resolve_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "resolve_batch(items: list, replies: list, forgotten)");
        return NULL;
    }
    PyObject *items = args[0], *replies = args[1], *forgotten = args[2];
    if (PyList_GET_SIZE(items) != PyList_GET_SIZE(replies)) {
        PyErr_SetString(PyExc_ValueError, "resolve_batch: as many replies as items");
        return NULL;
    }
    PyObject *type = NULL, *value = NULL, *tb = NULL;  // the first failure
    // Callbacks run Python code: hold what we use, and re-read the sizes.
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items) && i < PyList_GET_SIZE(replies); i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(items, i));
        PyObject *reply = Py_NewRef(PyList_GET_ITEM(replies, i));
        int r = 0;
        if (PyTuple_CheckExact(item)) {
            if (PyExceptionInstance_Check(reply)) {
                PyObject *o = PyObject_CallFunctionObjArgs(forgotten, item, reply, NULL);
                r = o ? 0 : -1;
                Py_XDECREF(o);
            }
        } else {
            r = check_future(item) < 0 ? -1 : cp_future_resolve(item, reply);
        }
        Py_DECREF(item);
        Py_DECREF(reply);
        if (r < 0) {
            if (!type) PyErr_Fetch(&type, &value, &tb);
            else PyErr_Clear();
        }
    }
    if (type) {
        PyErr_Restore(type, value, tb);
        return NULL;
    }
    Py_RETURN_NONE;
}

// ---------------------------------------------------------------- configure

static int method_of(PyObject *future, const char *name, PyObject **out) {
    PyObject *m = PyObject_GetAttrString(future, name);
    if (!m) return -1;
    Py_XSETREF(*out, m);
    return 0;
}

PyObject *cp_py_configure_futures(PyObject *self, PyObject *args) {
    PyObject *cls, *running, *finished, *condition, *wake, *future;
    if (!PyArg_ParseTuple(args, "O!OOOOO!:configure_futures", &PyType_Type, &cls, &running, &finished, &condition,
                          &wake, &PyType_Type, &future))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)cls, &FutureCoreType) ||
        !PyType_IsSubtype((PyTypeObject *)cls, (PyTypeObject *)future)) {
        PyErr_SetString(PyExc_TypeError, "configure_futures: cls must derive from FutureCore and Future");
        return NULL;
    }
    if (method_of(future, "done", &fut_done) < 0 || method_of(future, "running", &fut_running) < 0 ||
        method_of(future, "cancelled", &fut_cancelled) < 0 || method_of(future, "cancel", &fut_cancel) < 0 ||
        method_of(future, "result", &fut_result) < 0 || method_of(future, "exception", &fut_exception) < 0)
        return NULL;
    Py_XSETREF(future_class, (PyTypeObject *)Py_NewRef(cls));
    Py_XSETREF(s_running, Py_NewRef(running));
    Py_XSETREF(s_finished, Py_NewRef(finished));
    Py_XSETREF(condition_type, Py_NewRef(condition));
    Py_XSETREF(wake_fn, Py_NewRef(wake));
    Py_RETURN_NONE;
}
