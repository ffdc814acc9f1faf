// Staged submissions: Pool.phset/phget/fire_and_forget encode each command
// when it is called (so a bad argument raises there, before anything is
// sent) onto a bytearray the pool keeps, and send what accumulated as one
// engine request whose replies come back as one list. One request per batch
// instead of one per command is what makes a future cheap: the cgo call,
// the engine's Request and its completion are paid once per batch.
#include "bridge_stage.h"

#include <string.h>

// stage(buffer, max_bulk, *command) -> True, or False for a command that may
// block on the server (BLPOP, ...), which is not staged: a batch holding one
// would hold every command behind it. A DataError leaves buffer as it was.
PyObject *py_stage(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t max_bulk;
    if (nargs < 3) { PyErr_SetString(PyExc_TypeError, "stage(buffer, max_bulk, *command)"); return NULL; }
    PyObject *buf = args[0];
    if (!PyByteArray_CheckExact(buf)) { PyErr_SetString(PyExc_TypeError, "stage: buffer must be a bytearray"); return NULL; }
    if (parse_max_bulk(args[1], &max_bulk) < 0) return NULL;
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    PyObject *r = NULL;
    if (enc_command(&e, args + 2, nargs - 2, &kind) < 0) goto done;
    if (kind.blocking) { r = Py_NewRef(Py_False); goto done; }
    Py_ssize_t old = PyByteArray_GET_SIZE(buf);
    if (e.len > PY_SSIZE_T_MAX - old) { PyErr_NoMemory(); goto done; }
    // Fails with BufferError while submit_staged exports the buffer.
    if (PyByteArray_Resize(buf, old + e.len) < 0) goto done;
    memcpy(PyByteArray_AS_STRING(buf) + old, e.buf, e.len);
    r = Py_NewRef(Py_True);
done:
    enc_free(&e);
    return r;
}

// submit_staged(handle, queue, tag, wait, buffer, n) -> what submit_many
// returns: the n commands staged on buffer as one request. The engine copies
// them before this returns; the buffer is exported meanwhile, so nothing can
// resize it while the GIL is released for a wait.
PyObject *py_submit_staged(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h, qh, tag;
    if (nargs != 6) { PyErr_SetString(PyExc_TypeError, "submit_staged(handle, queue, tag, wait, buffer, n)"); return NULL; }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0 || cp_bridge_handle(args[1], &qh) < 0 ||
        cp_bridge_handle(args[2], &tag) < 0) return NULL;
    int wait = PyObject_IsTrue(args[3]);
    if (wait < 0) return NULL;
    if (!PyByteArray_CheckExact(args[4])) { PyErr_SetString(PyExc_TypeError, "submit_staged: buffer must be a bytearray"); return NULL; }
    long long n = PyLong_AsLongLong(args[5]);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n <= 0) { PyErr_SetString(PyExc_ValueError, "submit_staged: n must be positive"); return NULL; }
    Py_buffer view;
    if (PyObject_GetBuffer(args[4], &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len == 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "submit_staged: nothing staged");
        return NULL;
    }
    enc_t e = {.buf = view.buf, .len = view.len};
    batch_kind_t kind = {0, -1};
    char err[CP_BRIDGE_ERRCAP];
    int status = cp_bridge_submit_encoded(h, qh, &e, n, tag, 1, 0, -1, wait, err);
    PyObject *r = cp_bridge_submit_result(status, &e, n, 1, &kind, err);
    PyBuffer_Release(&view);
    return r;
}

// ---------------------------------------------------------------- StageCore
//
// The state of a Pool's Stager (cpipe/_staging.py) that the fast path reads,
// with the lock that guards it. hset/hget stage a command and make its
// future in one C call, without taking the lock: under the GIL, and running
// no Python code between its checks and its last write, the fast path is
// one atomic step, so it only has to know that no thread is inside a locked
// section (`held`). Whenever it would have to send (fewer than max_inflight
// batches in flight, a bound reached), or cannot stage (closed, deferred
// requests, the lock held), it hands the command to Stager.add (`slow`),
// which does all that under the lock.

#include "bridge_future.h"
#include "bridge_pubsub.h"  // cp_bridge_main_thread
#include "pythread.h"
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyThread_type_lock mutex;
    int held;  // a thread holds mutex and has the GIL back (or is inside its section)
    char closed;
    Py_ssize_t inflight, max_inflight, max_bulk, max_commands, max_bytes;
    PyObject *buf;       // bytearray: the staged commands
    PyObject *items;     // list: their futures or fire_and_forget records
    PyObject *deferred;  // list: requests the completion thread could not send
    PyObject *slow;      // Stager.add(item, command)
    PyObject *forget_slow;  // Pool's fire_and_forget slow path: (record, args)
    PyObject *counter;      // the Pool's fire_and_forget index: an iterator of ints
} stage_core_t;

static PyObject *s_hset, *s_hget;

static PyObject *stage_core_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"max_inflight", "max_commands", "max_bytes", NULL};
    Py_ssize_t max_inflight, max_commands, max_bytes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nnn:StageCore", kwlist, &max_inflight, &max_commands, &max_bytes))
        return NULL;
    if (max_inflight < 1 || max_commands < 1 || max_bytes < 1) {
        PyErr_SetString(PyExc_ValueError, "StageCore: the bounds must be positive");
        return NULL;
    }
    stage_core_t *c = (stage_core_t *)type->tp_alloc(type, 0);
    if (!c) return NULL;
    c->max_inflight = max_inflight;
    c->max_commands = max_commands;
    c->max_bytes = max_bytes;
    c->max_bulk = CP_DEFAULT_MAX_BULK;
    c->mutex = PyThread_allocate_lock();
    c->buf = PyByteArray_FromStringAndSize(NULL, 0);
    c->items = PyList_New(0);
    if (c->items) PyObject_GC_UnTrack(c->items);  // see put_items
    c->deferred = PyList_New(0);
    c->slow = Py_NewRef(Py_None);
    c->forget_slow = Py_NewRef(Py_None);
    c->counter = Py_NewRef(Py_None);
    if (!c->mutex || !c->buf || !c->items || !c->deferred) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        Py_DECREF(c);
        return NULL;
    }
    return (PyObject *)c;
}

static int stage_core_traverse(stage_core_t *c, visitproc visit, void *arg) {
    Py_VISIT(c->buf);
    Py_VISIT(c->items);
    Py_VISIT(c->deferred);
    Py_VISIT(c->slow);
    Py_VISIT(c->forget_slow);
    Py_VISIT(c->counter);
    return 0;
}

static int stage_core_clear(stage_core_t *c) {
    Py_CLEAR(c->buf);
    Py_CLEAR(c->items);
    Py_CLEAR(c->deferred);
    Py_CLEAR(c->slow);
    Py_CLEAR(c->forget_slow);
    Py_CLEAR(c->counter);
    return 0;
}

static void stage_core_dealloc(stage_core_t *c) {
    PyObject_GC_UnTrack(c);
    stage_core_clear(c);
    if (c->mutex) {
        if (c->held) PyThread_release_lock(c->mutex);
        PyThread_free_lock(c->mutex);
    }
    Py_TYPE(c)->tp_free((PyObject *)c);
}

// The lock. Held only for short sections (no waiting for the server inside
// one); still, the main thread waits for it in ticks and runs signal
// handlers between them, so Ctrl-C ends a wait that would never end.
#define STAGE_LOCK_TICK_US 50000

static PyObject *stage_core_acquire(stage_core_t *c, PyObject *unused) {
    if (!PyThread_acquire_lock(c->mutex, NOWAIT_LOCK)) {
        int main = cp_bridge_main_thread();
        for (;;) {
            PyLockStatus got;
            Py_BEGIN_ALLOW_THREADS
            got = PyThread_acquire_lock_timed(c->mutex, main ? STAGE_LOCK_TICK_US : -1, 0);
            Py_END_ALLOW_THREADS
            if (got == PY_LOCK_ACQUIRED) break;
            if (PyErr_CheckSignals() < 0) return NULL;  // KeyboardInterrupt: the lock not taken
        }
    }
    c->held = 1;  // with the GIL: from here the fast path keeps out
    Py_RETURN_TRUE;
}

static PyObject *stage_core_release(stage_core_t *c, PyObject *unused) {
    if (!c->held) {
        PyErr_SetString(PyExc_RuntimeError, "release unlocked lock");
        return NULL;
    }
    c->held = 0;
    PyThread_release_lock(c->mutex);
    Py_RETURN_NONE;
}

static PyObject *stage_core_exit(stage_core_t *c, PyObject *args) { return stage_core_release(c, NULL); }

// Hands item (a reference this consumes) and the command, as a tuple
// (command, when given, is it already), to slow(item, command); returns item.
static PyObject *stage_slow(PyObject *slow, PyObject *item, PyObject *const *cmd, Py_ssize_t n, PyObject *command) {
    if (command) {
        Py_INCREF(command);
    } else {
        command = PyTuple_New(n);
        if (!command) goto fail;
        for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(command, i, Py_NewRef(cmd[i]));
    }
    PyObject *r = PyObject_CallFunctionObjArgs(slow, item, command, NULL);
    Py_DECREF(command);
    if (!r) goto fail;
    Py_DECREF(r);
    return item;
fail:
    Py_DECREF(item);
    return NULL;
}

// Stages cmd[0..n) with item (a future or a fire_and_forget record; this
// consumes the reference and returns it): the fast path, else slow.
// Made before the call: allocating it may collect, which may run Python code.
static PyObject *stage_item(stage_core_t *c, PyObject *slow, PyObject *item, PyObject *const *cmd, Py_ssize_t n,
                            PyObject *command) {
    if (c->held || c->closed || c->inflight < c->max_inflight || !PyByteArray_CheckExact(c->buf) ||
        !PyList_CheckExact(c->items) || !PyList_CheckExact(c->deferred))
        return stage_slow(slow, item, cmd, n, command);
    enc_t e;
    enc_init(&e, c->max_bulk);
    batch_kind_t kind = {0, -1};
    if (enc_command(&e, cmd, n, &kind) < 0) {  // a bad argument: nothing staged
        enc_free(&e);
        Py_DECREF(item);
        return NULL;
    }
    // Encoding may have run Python code (an int subclass's __str__): check again.
    Py_ssize_t old = PyByteArray_GET_SIZE(c->buf);
    if (kind.blocking || c->held || c->closed || c->inflight < c->max_inflight || PyList_GET_SIZE(c->deferred) ||
        PyList_GET_SIZE(c->items) + 1 >= c->max_commands || old + e.len >= c->max_bytes) {
        enc_free(&e);
        return stage_slow(slow, item, cmd, n, command);
    }
    if (PyByteArray_Resize(c->buf, old + e.len) < 0) goto fail;
    memcpy(PyByteArray_AS_STRING(c->buf) + old, e.buf, e.len);
    if (PyList_Append(c->items, item) < 0) {
        PyByteArray_Resize(c->buf, old);  // shrinking does not fail
        goto fail;
    }
    enc_free(&e);
    return item;
fail:
    enc_free(&e);
    Py_DECREF(item);
    return NULL;
}

// Stages cmd[0..n) with a new future.
static PyObject *stage_future(stage_core_t *c, PyObject *const *cmd, Py_ssize_t n) {
    PyObject *fut = cp_future_new();
    if (!fut) return NULL;
    return stage_item(c, c->slow, fut, cmd, n, NULL);
}

// Pool.phset/phget's arguments, positional or by name, into out[0..n).
static int call_args(const char *fname, const char *const *names, Py_ssize_t n, PyObject *const *args,
                     Py_ssize_t nargs, PyObject *kwnames, PyObject **out) {
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > n) goto count;
    for (Py_ssize_t i = 0; i < n; i++) out[i] = i < nargs ? args[i] : NULL;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t i = 0;
        while (i < n && PyUnicode_CompareWithASCIIString(kw, names[i]) != 0) i++;
        if (i == n) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, kw);
            return -1;
        }
        if (out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, names[i]);
            return -1;
        }
        out[i] = args[nargs + k];
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!out[i]) goto count;
    return 0;
count:
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", fname, n, nargs + nkw);
    return -1;
}

static PyObject *stage_core_hset(stage_core_t *c, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"name", "key", "value"};
    PyObject *cmd[4] = {s_hset};
    if (call_args("phset", names, 3, args, nargs, kwnames, cmd + 1) < 0) return NULL;
    return stage_future(c, cmd, 4);
}

static PyObject *stage_core_hget(stage_core_t *c, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"name", "key"};
    PyObject *cmd[3] = {s_hget};
    if (call_args("phget", names, 2, args, nargs, kwnames, cmd + 1) < 0) return NULL;
    return stage_future(c, cmd, 3);
}

// Pool.fire_and_forget(*args): the command staged with its record,
// (index, args), which keeps only its error (Pool._forget is the slow path).
static PyObject *stage_core_forget(stage_core_t *c, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (kwnames && PyTuple_GET_SIZE(kwnames)) {
        PyErr_SetString(PyExc_TypeError, "fire_and_forget() takes no keyword arguments");
        return NULL;
    }
    if (nargs == 0) {
        PyErr_SetString(PyExc_TypeError, "fire_and_forget() needs a command");
        return NULL;
    }
    if (!c->counter || !PyIter_Check(c->counter)) {
        PyErr_SetString(PyExc_TypeError, "StageCore.counter must be an iterator");
        return NULL;
    }
    PyObject *command = PyTuple_New(nargs);
    if (!command) return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++) PyTuple_SET_ITEM(command, i, Py_NewRef(args[i]));
    PyObject *index = PyIter_Next(c->counter);
    if (!index) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "StageCore.counter is exhausted");
        Py_DECREF(command);
        return NULL;
    }
    PyObject *record = PyTuple_Pack(2, index, command);
    Py_DECREF(index);
    if (!record) {
        Py_DECREF(command);
        return NULL;
    }
    PyObject *r = stage_item(c, c->forget_slow, record, args, nargs, command);
    Py_DECREF(command);
    if (!r) return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static int set_list(PyObject **slot, PyObject *value, const char *name) {
    if (!value || !PyList_CheckExact(value)) {
        PyErr_Format(PyExc_TypeError, "StageCore.%s must be a list", name);
        return -1;
    }
    Py_SETREF(*slot, Py_NewRef(value));
    return 0;
}

// The staged items' list is not tracked by the GC: it grows to thousands of
// futures while young, and each young collection would walk it. Nothing can
// lead back to it from its items (it is the pool's own: the stager, the
// futures dict, the completion thread), so it is never part of a cycle.
static int put_items(stage_core_t *c, PyObject *v, void *x) {
    if (set_list(&c->items, v, "items") < 0) return -1;
    if (PyObject_GC_IsTracked(v)) PyObject_GC_UnTrack(v);
    return 0;
}

static PyObject *get_items(stage_core_t *c, void *x) { return Py_NewRef(c->items); }
static PyObject *get_deferred(stage_core_t *c, void *x) { return Py_NewRef(c->deferred); }
static int put_deferred(stage_core_t *c, PyObject *v, void *x) { return set_list(&c->deferred, v, "deferred"); }
static PyObject *get_held(stage_core_t *c, void *x) { return PyBool_FromLong(c->held); }

static PyGetSetDef stage_core_getset[] = {
    {"items", (getter)get_items, (setter)put_items, "the staged commands' items, in order", NULL},
    {"deferred", (getter)get_deferred, (setter)put_deferred, "[(tag, prepared, items)] not sent yet", NULL},
    {"held", (getter)get_held, NULL, "whether the lock is held", NULL},
    {NULL},
};

static PyMemberDef stage_core_members[] = {
    {"buf", T_OBJECT_EX, offsetof(stage_core_t, buf), READONLY, "the staged commands, encoded"},
    {"slow", T_OBJECT_EX, offsetof(stage_core_t, slow), 0, "add(item, command), for what the fast path cannot stage"},
    {"forget_slow", T_OBJECT_EX, offsetof(stage_core_t, forget_slow), 0, "forget(record, args): what forget cannot stage"},
    {"counter", T_OBJECT_EX, offsetof(stage_core_t, counter), 0, "an iterator of forget's record indexes"},
    {"inflight", T_PYSSIZET, offsetof(stage_core_t, inflight), 0, "staged batches sent and not yet completed"},
    {"max_inflight", T_PYSSIZET, offsetof(stage_core_t, max_inflight), READONLY, NULL},
    {"max_commands", T_PYSSIZET, offsetof(stage_core_t, max_commands), 0, "a batch is sent at this many commands"},
    {"max_bytes", T_PYSSIZET, offsetof(stage_core_t, max_bytes), 0, "a batch is sent at this many bytes"},
    {"max_bulk", T_PYSSIZET, offsetof(stage_core_t, max_bulk), 0, "the longest argument accepted"},
    {"closed", T_BOOL, offsetof(stage_core_t, closed), 0, NULL},
    {NULL},
};

static PyMethodDef stage_core_methods[] = {
    {"acquire", (PyCFunction)stage_core_acquire, METH_NOARGS, "acquire the lock (waits, GIL released)"},
    {"release", (PyCFunction)stage_core_release, METH_NOARGS, "release the lock"},
    {"__enter__", (PyCFunction)stage_core_acquire, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)stage_core_exit, METH_VARARGS, NULL},
    {"hset", (PyCFunction)(void (*)(void))stage_core_hset, METH_FASTCALL | METH_KEYWORDS, "hset(name, key, value) -> Future: Pool.phset"},
    {"hget", (PyCFunction)(void (*)(void))stage_core_hget, METH_FASTCALL | METH_KEYWORDS, "hget(name, key) -> Future: Pool.phget"},
    {"forget", (PyCFunction)(void (*)(void))stage_core_forget, METH_FASTCALL | METH_KEYWORDS, "forget(*command): Pool.fire_and_forget"},
    {NULL},
};

static PyTypeObject StageCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cpipe._native.StageCore",
    .tp_doc = "StageCore(max_inflight, max_commands, max_bytes): a Stager's lock and staged commands.",
    .tp_basicsize = sizeof(stage_core_t),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = stage_core_new,
    .tp_dealloc = (destructor)stage_core_dealloc,
    .tp_traverse = (traverseproc)stage_core_traverse,
    .tp_clear = (inquiry)stage_core_clear,
    .tp_getset = stage_core_getset,
    .tp_members = stage_core_members,
    .tp_methods = stage_core_methods,
};

int cp_stage_add_types(PyObject *module) {
    s_hset = PyUnicode_InternFromString("HSET");
    s_hget = PyUnicode_InternFromString("HGET");
    if (!s_hset || !s_hget || PyType_Ready(&StageCoreType) < 0) return -1;
    Py_INCREF(&StageCoreType);
    if (PyModule_AddObject(module, "StageCore", (PyObject *)&StageCoreType) < 0) {
        Py_DECREF(&StageCoreType);
        return -1;
    }
    return cp_future_add_types(module);
}
