// bridge_cache.c: client-side caching's native part (see engine/tracking.go
// and python/cpipe/cache.py).
//
// A TrackingState owns the engine's sink for one host cache and the 8 bytes
// of C memory the engine bumps whenever an invalidation is queued there.
// events() is an atomic load of that word and never enters Go: it is what a
// cache hit pays to learn that nothing is pending. Only when the word moved
// does Python call drain(), which takes the queued keys from the engine.
#include "encode.h"

#include <stdint.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include "_cgo_export.h"

int cp_bridge_forked(void);  // bridge.c: in a forked child Go must not run

typedef struct {
    PyObject_HEAD
    uint64_t *counter;  // C memory the engine bumps; freed in dealloc, after the sink is closed
    uint64_t sink;      // the engine's sink handle; 0 once closed
    uint64_t seen;      // the counter as Python last drained it (set_seen): equal means nothing pending
    uint64_t hits;      // hits answered by CachedCommand objects (under the GIL)
} TrackingState;

static PyObject *ts_command(TrackingState *self, PyObject *args);
static PyObject *ts_set_seen(TrackingState *self, PyObject *arg);
static PyObject *ts_hits(TrackingState *self, PyObject *unused);
static PyObject *ts_reset_hits(TrackingState *self, PyObject *unused);

static int64_t rd64_cache(const char *p) { int64_t v; memcpy(&v, p, 8); return v; }

static PyObject *ts_events(TrackingState *self, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(__atomic_load_n(self->counter, __ATOMIC_ACQUIRE));
}

static int ts_open(TrackingState *self) {
    if (!self->sink) { PyErr_SetString(PyExc_ValueError, "the tracking state is closed"); return -1; }
    if (cp_bridge_forked()) {
        PyErr_SetString(PyExc_RuntimeError, "cpipe: client-side caching cannot run in a forked child");
        return -1;
    }
    return 0;
}

// drain() -> (ready, flush, keys): see cp_tracking_drain.
static PyObject *ts_drain(TrackingState *self, PyObject *unused) {
    if (ts_open(self) < 0) return NULL;
    char *tape = NULL; int64_t len = 0, n = 0;
    int flags = cp_tracking_drain(self->sink, &tape, &len, &n);
    PyObject *keys = NULL, *r = NULL;
    if (flags < 0) { PyErr_SetString(PyExc_ValueError, "unknown tracking sink"); goto bail; }
    keys = PyList_New((Py_ssize_t)n);
    if (!keys) goto bail;
    const char *p = tape;
    for (int64_t i = 0; i < n; i++) {
        int64_t klen = rd64_cache(p + 1);  // '$' len bytes (engine/tape.go)
        PyObject *k = PyBytes_FromStringAndSize(p + 9, (Py_ssize_t)klen);
        if (!k) goto bail;
        PyList_SET_ITEM(keys, (Py_ssize_t)i, k);
        p += 9 + klen;
    }
    r = Py_BuildValue("(OOO)", (flags & 1) ? Py_True : Py_False, (flags & 2) ? Py_True : Py_False, keys);
bail:
    Py_XDECREF(keys);
    free(tape);
    return r;
}

// attach(handle, bcast, prefixes: sequence of bytes): must come before the
// handle's first command.
static PyObject *ts_attach(TrackingState *self, PyObject *args) {
    unsigned long long h; int bcast; PyObject *prefixes, *seq = NULL, *r = NULL;
    char *packed = NULL; Py_ssize_t size = 0;
    if (!PyArg_ParseTuple(args, "KpO", &h, &bcast, &prefixes)) return NULL;
    if (ts_open(self) < 0) return NULL;
    seq = PySequence_Fast(prefixes, "prefixes must be a sequence of bytes");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(p)) { PyErr_SetString(PyExc_TypeError, "each prefix must be bytes"); goto bail; }
        if (PyBytes_GET_SIZE(p) > PY_SSIZE_T_MAX / 2 - size - 8) { PyErr_NoMemory(); goto bail; }
        size += 8 + PyBytes_GET_SIZE(p);
    }
    packed = malloc(size ? (size_t)size : 1);
    if (!packed) { PyErr_NoMemory(); goto bail; }
    char *w = packed;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PySequence_Fast_GET_ITEM(seq, i);
        int64_t len = PyBytes_GET_SIZE(p);
        memcpy(w, &len, 8);
        memcpy(w + 8, PyBytes_AS_STRING(p), (size_t)len);
        w += 8 + len;
    }
    if (cp_tracking_attach(h, self->sink, bcast, packed, size, n) != 0) {
        PyErr_SetString(PyExc_ValueError, "cannot track an unknown or closed handle");
        goto bail;
    }
    r = Py_NewRef(Py_None);
bail:
    free(packed);
    Py_XDECREF(seq);
    return r;
}

// stats() -> (invalidated keys, flushes, overflows), as the engine counted them.
static PyObject *ts_stats(TrackingState *self, PyObject *unused) {
    if (ts_open(self) < 0) return NULL;
    uint64_t out[3] = {0, 0, 0};
    cp_tracking_stats(self->sink, out);
    return Py_BuildValue("(KKK)", (unsigned long long)out[0], (unsigned long long)out[1], (unsigned long long)out[2]);
}

static void ts_close_sink(TrackingState *self) {
    uint64_t sink = self->sink;
    self->sink = 0;
    if (sink && !cp_bridge_forked()) cp_tracking_sink_close(sink);
}

static PyObject *ts_close(TrackingState *self, PyObject *unused) {
    ts_close_sink(self);
    Py_RETURN_NONE;
}

static void ts_dealloc(TrackingState *self) {
    ts_close_sink(self);
    // In a forked child the parent's engine is not running here: nothing writes it.
    free(self->counter);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef ts_methods[] = {
    {"events", (PyCFunction)ts_events, METH_NOARGS, "events() -> the engine's event count (no call into Go)"},
    {"drain", (PyCFunction)ts_drain, METH_NOARGS, "drain() -> (ready, flush, keys)"},
    {"attach", (PyCFunction)ts_attach, METH_VARARGS, "attach(handle, bcast, prefixes)"},
    {"stats", (PyCFunction)ts_stats, METH_NOARGS, "stats() -> (invalidated keys, flushes, overflows)"},
    {"close", (PyCFunction)ts_close, METH_NOARGS, "close(): the engine stops feeding this state"},
    {"command", (PyCFunction)ts_command, METH_VARARGS, "command(entries, move_to_end, callbacks, copy, fallback) -> CachedCommand"},
    {"set_seen", (PyCFunction)ts_set_seen, METH_O, "set_seen(count): what Python has drained up to"},
    {"hits", (PyCFunction)ts_hits, METH_NOARGS, "hits() -> hits answered in C"},
    {"reset_hits", (PyCFunction)ts_reset_hits, METH_NOARGS, "reset_hits()"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TrackingStateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cpipe._native.TrackingState",
    .tp_basicsize = sizeof(TrackingState),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The engine's invalidation queue for one client-side cache.",
    .tp_dealloc = (destructor)ts_dealloc,
    .tp_methods = ts_methods,
};

// tracking_state(max_keys, max_bytes) -> TrackingState: bounds of the
// engine's key queue (0: its defaults).
PyObject *cp_py_tracking_state(PyObject *module, PyObject *args) {
    long long max_keys, max_bytes;
    if (!PyArg_ParseTuple(args, "LL", &max_keys, &max_bytes)) return NULL;
    if (max_keys < 0 || max_bytes < 0) { PyErr_SetString(PyExc_ValueError, "max_keys and max_bytes must be >= 0"); return NULL; }
    if (cp_bridge_forked()) {
        PyErr_SetString(PyExc_RuntimeError, "cpipe: client-side caching cannot run in a forked child");
        return NULL;
    }
    if (!(TrackingStateType.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&TrackingStateType) < 0) return NULL;
    TrackingState *self = PyObject_New(TrackingState, &TrackingStateType);
    if (!self) return NULL;
    self->sink = 0;
    self->seen = 0;
    self->hits = 0;
    self->counter = aligned_alloc(8, 8);  // the engine writes it with 8-byte atomics
    if (!self->counter) { Py_DECREF(self); return PyErr_NoMemory(); }
    *self->counter = 0;
    self->sink = cp_tracking_sink_open((uint64_t *)self->counter, max_keys, max_bytes);
    return (PyObject *)self;
}

// ---------------------------------------------------------------- the hit path in C
//
// A CachedCommand is a client's `_cmd` (or `_exec`) when it has a cache: on
// a hit it answers without a Python frame. What it reads is what
// cpipe/cache.py keeps: `entries` maps an argument tuple to a list
// [value, typed, key, ...]; typed entries (an int argument) are only
// returned for arguments of the same types (1 and 1.0 hash alike). The hit
// is counted in the TrackingState; anything else (a pending invalidation,
// a miss, an unhashable argument) goes to `fallback(*args)`, the Python path.

typedef struct {
    PyObject_HEAD
    TrackingState *state;
    PyObject *entries;    // the cache's OrderedDict
    PyObject *move;       // entries.move_to_end
    PyObject *callbacks;  // the client's response callbacks (a dict), or None: return the raw reply
    PyObject *copy;       // cache._copy, for list and dict (RESP3 map) replies
    PyObject *fallback;   // callable(*args): the Python path
    vectorcallfunc vectorcall;
} CachedCommand;

static PyObject *cc_fallback(CachedCommand *self, PyObject *const *args, size_t nargsf) {
    return PyObject_Vectorcall(self->fallback, args, nargsf, NULL);
}

static PyObject *cc_call(CachedCommand *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if (kwnames || n < 1) return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    TrackingState *st = self->state;
    if (__atomic_load_n(st->counter, __ATOMIC_ACQUIRE) != st->seen) return cc_fallback(self, args, nargsf);
    PyObject *key = PyTuple_New(n);
    if (!key) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(key, i, Py_NewRef(args[i]));
    PyObject *e = PyDict_GetItemWithError(self->entries, key);  // borrowed
    if (!e) {
        Py_DECREF(key);
        if (PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) return NULL;
            PyErr_Clear();  // an unhashable argument: never cached
        }
        return cc_fallback(self, args, nargsf);
    }
    if (!PyList_CheckExact(e) || PyList_GET_SIZE(e) < 3) { Py_DECREF(key); return cc_fallback(self, args, nargsf); }
    Py_INCREF(e);
    if (PyList_GET_ITEM(e, 1) == Py_True) {  // typed: compare argument types with the stored key
        PyObject *stored = PyList_GET_ITEM(e, 2);
        int same = PyTuple_Check(stored) && PyTuple_GET_SIZE(stored) == n;
        for (Py_ssize_t i = 0; same && i < n; i++) same = Py_TYPE(PyTuple_GET_ITEM(stored, i)) == Py_TYPE(args[i]);
        if (!same) { Py_DECREF(e); Py_DECREF(key); return cc_fallback(self, args, nargsf); }
    }
    PyObject *moved = PyObject_CallOneArg(self->move, key);  // LRU: most recently used last
    Py_DECREF(key);
    if (moved) Py_DECREF(moved);
    else if (PyErr_ExceptionMatches(PyExc_KeyError)) PyErr_Clear();  // evicted by another thread just now
    else { Py_DECREF(e); return NULL; }
    st->hits++;
    PyObject *v = PyList_GET_ITEM(e, 0);
    PyObject *r = PyList_CheckExact(v) || PyDict_CheckExact(v) ? PyObject_CallOneArg(self->copy, v) : Py_NewRef(v);
    Py_DECREF(e);
    if (!r || self->callbacks == Py_None) return r;
    PyObject *cb = PyDict_GetItemWithError(self->callbacks, args[0]);  // _cmd's names are upper case
    if (!cb) { if (PyErr_Occurred()) { Py_DECREF(r); return NULL; } return r; }
    Py_INCREF(cb);
    PyObject *out = PyObject_CallOneArg(cb, r);
    Py_DECREF(cb);
    Py_DECREF(r);
    return out;
}

static int cc_traverse(CachedCommand *self, visitproc visit, void *arg) {
    Py_VISIT(self->state); Py_VISIT(self->entries); Py_VISIT(self->move);
    Py_VISIT(self->callbacks); Py_VISIT(self->copy); Py_VISIT(self->fallback);
    return 0;
}

static int cc_clear(CachedCommand *self) {
    Py_CLEAR(self->state); Py_CLEAR(self->entries); Py_CLEAR(self->move);
    Py_CLEAR(self->callbacks); Py_CLEAR(self->copy); Py_CLEAR(self->fallback);
    return 0;
}

static void cc_dealloc(CachedCommand *self) {
    PyObject_GC_UnTrack(self);
    cc_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject CachedCommandType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cpipe._native.CachedCommand",
    .tp_basicsize = sizeof(CachedCommand),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "A client's command primitive with a client-side cache: hits answered in C.",
    .tp_dealloc = (destructor)cc_dealloc,
    .tp_traverse = (traverseproc)cc_traverse,
    .tp_clear = (inquiry)cc_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(CachedCommand, vectorcall),
};

// state.command(entries, move_to_end, callbacks or None, copy, fallback) -> CachedCommand
static PyObject *ts_command(TrackingState *self, PyObject *args) {
    PyObject *entries, *move, *callbacks, *copy, *fallback;
    if (!PyArg_ParseTuple(args, "O!OOOO", &PyDict_Type, &entries, &move, &callbacks, &copy, &fallback)) return NULL;
    if (callbacks != Py_None && !PyDict_Check(callbacks)) { PyErr_SetString(PyExc_TypeError, "callbacks must be a dict or None"); return NULL; }
    if (!(CachedCommandType.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&CachedCommandType) < 0) return NULL;
    CachedCommand *c = PyObject_GC_New(CachedCommand, &CachedCommandType);
    if (!c) return NULL;
    c->state = (TrackingState *)Py_NewRef(self);
    c->entries = Py_NewRef(entries);
    c->move = Py_NewRef(move);
    c->callbacks = Py_NewRef(callbacks);
    c->copy = Py_NewRef(copy);
    c->fallback = Py_NewRef(fallback);
    c->vectorcall = (vectorcallfunc)cc_call;
    PyObject_GC_Track(c);
    return (PyObject *)c;
}

static PyObject *ts_set_seen(TrackingState *self, PyObject *arg) {
    uint64_t v = PyLong_AsUnsignedLongLong(arg);
    if (v == (uint64_t)-1 && PyErr_Occurred()) return NULL;
    self->seen = v;
    Py_RETURN_NONE;
}

static PyObject *ts_hits(TrackingState *self, PyObject *unused) { return PyLong_FromUnsignedLongLong(self->hits); }

static PyObject *ts_reset_hits(TrackingState *self, PyObject *unused) { self->hits = 0; Py_RETURN_NONE; }
