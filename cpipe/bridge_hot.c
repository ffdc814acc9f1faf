// A client's plain hot methods (c.hset(name, key, value), c.get(name), ...)
// as one C call: a method descriptor that cpipe.Redis's class holds instead
// of HotCommands' Python method, whose two frames (the method, then _cmd)
// cost about 0.6 µs a command, a tenth of a whole round trip here.
//
// Called with nmin..nmax positional arguments, none of them None, on an
// instance whose _cmd is Redis._cmd (not the client-side cache's, which it
// installs on the instance, nor a subclass's),
// it does what HotCommands' method and Redis._cmd do: reply = self._exec(NAME,
// *args); if self._protocol_pending: self._settle_protocol(); then the
// reply through response_callbacks[NAME] when there is one. When _exec
// raises an Exception, self._cmd_recover(exec, args, exc) decides (fresh
// credentials, the retry policy) what _cmd's except clauses decide. Any
// other call goes to fallback, the Python method.
#include "bridge_hot.h"

#include <stddef.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *name;          // the command's name, an upper-case str
    Py_ssize_t nmin, nmax;   // positional arguments of the fast path (nmax -1: any number)
    PyObject *fallback;      // the Python method (a function: called with the client first)
    PyObject *find_callback; // cpipe._replies.find_callback, for callbacks that are not a dict
    PyObject *cmd;           // Redis._cmd, the function whose work the fast path does
    PyObject *dict;          // __signature__, __doc__, __name__, ... (set by client.py)
} ClientMethod;

#define CM_STACK 8

static PyObject *s_exec, *s_cmd, *s_pending, *s_settle, *s_callbacks, *s_recover;

// Whether obj's own __dict__ has a _cmd (then its hot methods must use it).
static int has_own_cmd(PyObject *obj) {
    PyObject *d = PyObject_GenericGetDict(obj, NULL);
    if (!d) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
        PyErr_Clear();
        return 0;
    }
    int r = PyDict_Check(d) ? PyDict_Contains(d, s_cmd) : 1;
    Py_DECREF(d);
    return r;
}

// _exec raised: hand the exception to self._cmd_recover(exec, args, exc),
// whose return value (or exception) is the call's.
static PyObject *recover(PyObject *client, PyObject *exec, PyObject *const *full, Py_ssize_t n) {
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return NULL;  // KeyboardInterrupt, ...: as it is
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value) PyException_SetTraceback(value, tb);
    PyObject *r = NULL, *args = PyTuple_New(n);
    if (args) {
        for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(args, i, Py_NewRef(full[i]));
        r = PyObject_CallMethodObjArgs(client, s_recover, exec, args, value ? value : Py_None, NULL);
        Py_DECREF(args);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return r;
}

// The reply as _cmd returns it: the protocol settled, then the callback.
static PyObject *finish(ClientMethod *self, PyObject *client, PyObject *reply) {
    PyObject *pending = PyObject_GetAttr(client, s_pending);
    int settle = pending ? PyObject_IsTrue(pending) : -1;
    Py_XDECREF(pending);
    if (settle > 0) {
        PyObject *r = PyObject_CallMethodNoArgs(client, s_settle);
        settle = r ? 0 : -1;
        Py_XDECREF(r);
    }
    if (settle < 0) goto fail;
    PyObject *callbacks = PyObject_GetAttr(client, s_callbacks);
    if (!callbacks) goto fail;
    PyObject *cb;
    if (PyDict_Check(callbacks)) {
        // redis-py's CaseInsensitiveDict keeps its keys upper-case, as name is.
        cb = Py_XNewRef(PyDict_GetItemWithError(callbacks, self->name));
    } else {
        cb = PyObject_CallFunctionObjArgs(self->find_callback, callbacks, self->name, NULL);
        if (!cb) {
            Py_DECREF(callbacks);
            goto fail;
        }
    }
    Py_DECREF(callbacks);
    if (!cb && PyErr_Occurred()) goto fail;
    if (!cb || cb == Py_None) {
        Py_XDECREF(cb);
        return reply;
    }
    PyObject *r = PyObject_CallOneArg(cb, reply);
    Py_DECREF(cb);
    Py_DECREF(reply);
    return r;
fail:
    Py_DECREF(reply);
    return NULL;
}

static PyObject *cm_call(ClientMethod *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);  // args[0]: the client
    int fast = !kwnames && n >= 1 && n - 1 >= self->nmin && (self->nmax < 0 || n - 1 <= self->nmax);
    for (Py_ssize_t i = 1; fast && i < n; i++) fast = args[i] != Py_None;
    if (fast) fast = _PyType_Lookup(Py_TYPE(args[0]), s_cmd) == self->cmd;
    if (fast) {
        int own = has_own_cmd(args[0]);
        if (own < 0) return NULL;
        fast = !own;
    }
    if (!fast) return PyObject_Vectorcall(self->fallback, args, n, kwnames);
    PyObject *client = args[0];
    PyObject *exec = PyObject_GetAttr(client, s_exec);
    if (!exec) return NULL;
    PyObject *stack[CM_STACK], **full = stack;
    if (n > CM_STACK && !(full = PyMem_Malloc(n * sizeof(PyObject *)))) {
        Py_DECREF(exec);
        return PyErr_NoMemory();
    }
    full[0] = self->name;
    memcpy(full + 1, args + 1, (n - 1) * sizeof(PyObject *));
    PyObject *reply = PyObject_Vectorcall(exec, full, n, NULL);
    PyObject *r = reply ? finish(self, client, reply) : recover(client, exec, full, n);
    if (full != stack) PyMem_Free(full);
    Py_DECREF(exec);
    return r;
}

// c.hset without a call: a bound method (the class's attribute is the descriptor itself).
static PyObject *cm_get(PyObject *self, PyObject *obj, PyObject *type) {
    if (obj == NULL || obj == Py_None) return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static int cm_traverse(ClientMethod *self, visitproc visit, void *arg) {
    Py_VISIT(self->fallback);
    Py_VISIT(self->find_callback);
    Py_VISIT(self->cmd);
    Py_VISIT(self->dict);
    return 0;
}

static int cm_clear(ClientMethod *self) {
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->find_callback);
    Py_CLEAR(self->cmd);
    Py_CLEAR(self->dict);
    return 0;
}

static void cm_dealloc(ClientMethod *self) {
    PyObject_GC_UnTrack(self);
    cm_clear(self);
    Py_XDECREF(self->name);
    PyObject_GC_Del(self);
}

static PyTypeObject ClientMethodType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cpipe._native.ClientMethod",
    .tp_basicsize = sizeof(ClientMethod),
    .tp_dealloc = (destructor)cm_dealloc,
    // METHOD_DESCRIPTOR: c.hset(...) calls it with the client first, no bound method made.
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "A client's hot command method (see cpipe.client)",
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(ClientMethod, vectorcall),
    .tp_descr_get = cm_get,
    .tp_dictoffset = offsetof(ClientMethod, dict),
    .tp_traverse = (traverseproc)cm_traverse,
    .tp_clear = (inquiry)cm_clear,
};

static int intern_names(void) {
    if (s_exec) return 0;
    s_exec = PyUnicode_InternFromString("_exec");
    s_cmd = PyUnicode_InternFromString("_cmd");
    s_pending = PyUnicode_InternFromString("_protocol_pending");
    s_settle = PyUnicode_InternFromString("_settle_protocol");
    s_callbacks = PyUnicode_InternFromString("response_callbacks");
    s_recover = PyUnicode_InternFromString("_cmd_recover");
    return s_exec && s_cmd && s_pending && s_settle && s_callbacks && s_recover ? 0 : -1;
}

// client_method(name, nmin, nmax, fallback, find_callback, cmd) -> ClientMethod
PyObject *py_client_method(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || !PyUnicode_Check(args[0]) || !PyCallable_Check(args[3]) || !PyCallable_Check(args[4]) ||
        !PyCallable_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "client_method(name: str, nmin, nmax, fallback, find_callback, cmd)");
        return NULL;
    }
    Py_ssize_t nmin = PyLong_AsSsize_t(args[1]);
    if (nmin == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t nmax = PyLong_AsSsize_t(args[2]);
    if (nmax == -1 && PyErr_Occurred()) return NULL;
    if (intern_names() < 0) return NULL;
    if (!(ClientMethodType.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&ClientMethodType) < 0) return NULL;
    ClientMethod *m = PyObject_GC_New(ClientMethod, &ClientMethodType);
    if (!m) return NULL;
    m->vectorcall = (vectorcallfunc)cm_call;
    m->name = Py_NewRef(args[0]);
    m->nmin = nmin;
    m->nmax = nmax;
    m->fallback = Py_NewRef(args[3]);
    m->find_callback = Py_NewRef(args[4]);
    m->cmd = Py_NewRef(args[5]);
    m->dict = NULL;
    PyObject_GC_Track(m);
    return (PyObject *)m;
}
