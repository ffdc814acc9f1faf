// A pipeline's commands encoded as they are queued (cpipe.Pipeline): a
// Batch is a growable RESP buffer plus each command's name, and
// execute_batch sends it as one request and reads the replies, as
// execute_many does for a list of argument tuples. Queueing a command is
// then one C call that keeps no Python object per command (the argument
// tuples of a 10,000-command pipeline kept the garbage collector busy), and
// execute encodes nothing.
#include "bridge_batch.h"
#include "bridge_stage.h"   // cp_bridge_handle, cp_bridge_ready, CP_BRIDGE_ERRCAP
#include "bridge_pubsub.h"  // cp_bridge_build, cp_bridge_raise, cp_bridge_main_thread

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "_cgo_export.h"

typedef struct {
    PyObject_HEAD
    enc_t e;
    batch_kind_t kind;  // blocking commands' longest wait, for the engine
    PyObject **names;   // each command's name if a str (new references), else NULL
    Py_ssize_t n, cap;
    int busy;           // execute_batch reads e.buf with the GIL released: add must not move it
} Batch;

static PyTypeObject BatchType;

static PyObject *batch_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    Py_ssize_t max_bulk = CP_DEFAULT_MAX_BULK;
    if (!PyArg_ParseTuple(args, "|n:Batch", &max_bulk)) return NULL;
    if (max_bulk <= 0) { PyErr_SetString(PyExc_ValueError, "Batch: max_bulk must be positive"); return NULL; }
    Batch *self = (Batch *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    enc_init(&self->e, max_bulk);
    self->kind.blocking = 0;
    self->kind.block_for = -1;
    return (PyObject *)self;
}

static void batch_dealloc(Batch *self) {
    for (Py_ssize_t i = 0; i < self->n; i++) Py_XDECREF(self->names[i]);
    PyMem_Free(self->names);
    enc_free(&self->e);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

// add(*command): encoded at the end. A DataError (a bad argument, a refused
// command) leaves the batch as it was.
static PyObject *batch_add(Batch *self, PyObject *const *args, Py_ssize_t nargs) {
    if (self->busy) { PyErr_SetString(PyExc_RuntimeError, "a pipeline cannot queue commands while it executes"); return NULL; }
    if (self->n == self->cap) {
        Py_ssize_t cap = self->cap ? self->cap * 2 : 64;
        PyObject **names = PyMem_Realloc(self->names, (size_t)cap * sizeof(PyObject *));
        if (!names) return PyErr_NoMemory();
        self->names = names;
        self->cap = cap;
    }
    Py_ssize_t len = self->e.len;
    batch_kind_t kind = self->kind;
    if (enc_command(&self->e, args, nargs, &kind) < 0) {
        self->e.len = len;  // what the failed command wrote is dropped
        return NULL;
    }
    self->kind = kind;
    self->names[self->n++] = PyUnicode_CheckExact(args[0]) ? Py_NewRef(args[0]) : NULL;
    Py_RETURN_NONE;
}

static Py_ssize_t batch_len(Batch *self) { return self->n; }

// Reads "<c><decimal>\r\n" at *pp (the encoder's own output, so well formed).
static Py_ssize_t read_header(const char **pp) {
    const char *p = *pp + 1;
    Py_ssize_t v = 0;
    while (*p != '\r') v = v * 10 + (*p++ - '0');
    *pp = p + 2;
    return v;
}

// commands() -> [tuple]: each command as it was sent, its name as queued
// (a str) and its arguments as the bytes encoded. For what redis-py reads
// back (command_stack, an error's annotation) and for a pipeline that
// falls back to argument tuples.
static PyObject *batch_commands(Batch *self, PyObject *unused) {
    PyObject *out = PyList_New(self->n);
    const char *p = self->e.buf;
    for (Py_ssize_t i = 0; out && i < self->n; i++) {
        Py_ssize_t argc = read_header(&p);
        PyObject *cmd = PyTuple_New(argc);
        if (!cmd) { Py_CLEAR(out); break; }
        for (Py_ssize_t j = 0; j < argc; j++) {
            Py_ssize_t len = read_header(&p);
            PyObject *arg = (j == 0 && self->names[i]) ? Py_NewRef(self->names[i]) : PyBytes_FromStringAndSize(p, len);
            p += len + 2;
            if (!arg) { Py_DECREF(cmd); Py_CLEAR(out); break; }
            PyTuple_SET_ITEM(cmd, j, arg);
        }
        if (out) PyList_SET_ITEM(out, i, cmd);
    }
    return out;
}

// names() -> [str or None]: each command's name, in order.
static PyObject *batch_names(Batch *self, PyObject *unused) {
    PyObject *out = PyList_New(self->n);
    for (Py_ssize_t i = 0; out && i < self->n; i++)
        PyList_SET_ITEM(out, i, Py_NewRef(self->names[i] ? self->names[i] : Py_None));
    return out;
}

// names_used() -> set: the distinct names, so that a batch whose names have
// no response callback costs no loop over its replies.
static PyObject *batch_names_used(Batch *self, PyObject *unused) {
    PyObject *out = PySet_New(NULL), *last = NULL;
    for (Py_ssize_t i = 0; out && i < self->n; i++) {
        PyObject *name = self->names[i] ? self->names[i] : Py_None;
        if (name != last && PySet_Add(out, name) < 0) Py_CLEAR(out);
        last = name;
    }
    return out;
}

static PyMethodDef batch_methods[] = {
    {"add", (PyCFunction)(void (*)(void))batch_add, METH_FASTCALL, "add(*command): encoded onto the batch (DataError: left as it was)"},
    {"commands", (PyCFunction)batch_commands, METH_NOARGS, "commands() -> [tuple]: (name, *arguments as bytes) per command"},
    {"names", (PyCFunction)batch_names, METH_NOARGS, "names() -> [str or None]"},
    {"names_used", (PyCFunction)batch_names_used, METH_NOARGS, "names_used() -> set of the distinct names"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods batch_sequence = {.sq_length = (lenfunc)batch_len};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cpipe._native.Batch",
    .tp_basicsize = sizeof(Batch),
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,  // holds only str: no cycle through it, not tracked by the GC
    .tp_doc = "Batch(max_bulk): a pipeline's commands, encoded as they are queued",
    .tp_methods = batch_methods,
    .tp_as_sequence = &batch_sequence,
    .tp_new = batch_new,
};

static const char MULTI[] = "*1\r\n$5\r\nMULTI\r\n", EXEC[] = "*1\r\n$4\r\nEXEC\r\n";

// execute_batch(handle, encoding, batch, multi) -> (replies, errors): the
// batch as one request (inside MULTI ... EXEC when multi, whose replies are
// then the first and last), its replies in a list, an error in place as an
// exception instance, and how many of them are errors.
PyObject *py_execute_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h;
    if (nargs != 4 || !PyObject_TypeCheck(args[2], &BatchType)) {
        PyErr_SetString(PyExc_TypeError, "execute_batch(handle, encoding, batch: Batch, multi)");
        return NULL;
    }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0) return NULL;
    PyObject *encoding = args[1];
    Batch *b = (Batch *)args[2];
    int multi = PyObject_IsTrue(args[3]);
    if (multi < 0) return NULL;
    if (b->busy) { PyErr_SetString(PyExc_RuntimeError, "this pipeline is already executing"); return NULL; }
    int64_t n = b->n + (multi ? 2 : 0);
    if (n == 0) return Py_BuildValue("(Ni)", PyList_New(0), 0);
    const char *buf = b->e.buf;
    Py_ssize_t len = b->e.len;
    char *wrapped = NULL;
    if (multi) {
        size_t head = sizeof MULTI - 1, tail = sizeof EXEC - 1;
        if ((size_t)len > PY_SSIZE_T_MAX - head - tail || !(wrapped = malloc(len + head + tail))) return PyErr_NoMemory();
        memcpy(wrapped, MULTI, head);
        memcpy(wrapped + head, buf, len);
        memcpy(wrapped + head + len, EXEC, tail);
        buf = wrapped;
        len += head + tail;
    }
    int blocking = b->kind.blocking; double block_for = b->kind.block_for;
    char *tape = NULL; int64_t tape_len = 0; char err[CP_BRIDGE_ERRCAP]; int status, wake = cp_bridge_main_thread();
    b->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    status = cp_exec(h, (char *)buf, len, n, blocking, block_for, wake, &tape, &tape_len, err, CP_BRIDGE_ERRCAP);
    Py_END_ALLOW_THREADS
    b->busy = 0;
    free(wrapped);
    if (status != CP_OK) { free(tape); return cp_bridge_raise(status, err); }
    const char *p = tape;
    Py_ssize_t errors = 0;
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (int64_t i = 0; out && i < n; i++) {
        PyObject *item = cp_bridge_build(&p, encoding);
        if (!item) { Py_CLEAR(out); break; }
        errors += PyExceptionInstance_Check(item);
        PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    free(tape);
    return out ? Py_BuildValue("(Nn)", out, errors) : NULL;
}

// ---------------------------------------------------------------- hot methods

// A pipeline's plain hot methods (p.hset(name, key, value), p.get(name),
// ...) as one C call: a method descriptor that cpipe.Pipeline's class holds
// instead of StagedHotCommands' Python method. Called with nmin..nmax
// positional arguments, none of them None, while the pipeline's _stage is
// set, it stages NAME + args and returns the pipeline; any other call
// (keywords, None, other counts, immediate mode) and a command _stage
// refuses go to fallback, the Python method, which does what it always did.
// Measured: the Python frame it skips is about a third of queueing's cost.
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *name;         // the command's name, a str
    Py_ssize_t nmin, nmax;  // positional arguments of the fast path (nmax -1: any number)
    PyObject *fallback;     // the Python method (a function: called with the pipeline first)
    PyObject *dict;         // __signature__, __doc__, __name__, ... (set by pipeline.py)
} StagedMethod;

#define SM_STACK 8

static PyObject *stage_attr;  // "_stage", interned

static PyObject *sm_call(StagedMethod *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);  // args[0]: the pipeline
    int fast = !kwnames && n >= 1 && n - 1 >= self->nmin && (self->nmax < 0 || n - 1 <= self->nmax);
    for (Py_ssize_t i = 1; fast && i < n; i++) fast = args[i] != Py_None;
    PyObject *stage = fast ? PyObject_GetAttr(args[0], stage_attr) : NULL;
    if (fast && !stage) return NULL;
    if (stage == Py_None) { Py_CLEAR(stage); fast = 0; }
    if (!fast) return PyObject_Vectorcall(self->fallback, args, n, kwnames);
    PyObject *stack[SM_STACK], **full = stack;
    if (n > SM_STACK && !(full = PyMem_Malloc(n * sizeof(PyObject *)))) { Py_DECREF(stage); return PyErr_NoMemory(); }
    full[0] = self->name;
    memcpy(full + 1, args + 1, (n - 1) * sizeof(PyObject *));
    PyObject *r = PyObject_Vectorcall(stage, full, n, NULL);
    if (full != stack) PyMem_Free(full);
    Py_DECREF(stage);
    if (!r) {
        // Refused (a DataError): the Python method stages it again, fails
        // the same way and queues it as an argument tuple for execute() to refuse.
        PyErr_Clear();
        return PyObject_Vectorcall(self->fallback, args, n, kwnames);
    }
    Py_DECREF(r);
    return Py_NewRef(args[0]);
}

// p.hset without a call: a bound method (the class's attribute is the descriptor itself).
static PyObject *sm_get(PyObject *self, PyObject *obj, PyObject *type) {
    if (obj == NULL || obj == Py_None) return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static int sm_traverse(StagedMethod *self, visitproc visit, void *arg) {
    Py_VISIT(self->fallback);
    Py_VISIT(self->dict);
    return 0;
}

static int sm_clear(StagedMethod *self) {
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->dict);
    return 0;
}

static void sm_dealloc(StagedMethod *self) {
    PyObject_GC_UnTrack(self);
    sm_clear(self);
    Py_XDECREF(self->name);
    PyObject_GC_Del(self);
}

static PyTypeObject StagedMethodType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cpipe._native.StagedMethod",
    .tp_basicsize = sizeof(StagedMethod),
    .tp_dealloc = (destructor)sm_dealloc,
    // METHOD_DESCRIPTOR: p.hset(...) calls it with the pipeline first, no bound method made.
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "A pipeline's hot command method (see cpipe.pipeline)",
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(StagedMethod, vectorcall),
    .tp_descr_get = sm_get,
    .tp_dictoffset = offsetof(StagedMethod, dict),
    .tp_traverse = (traverseproc)sm_traverse,
    .tp_clear = (inquiry)sm_clear,
};

// staged_method(name, nmin, nmax, fallback) -> StagedMethod
PyObject *py_staged_method(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyUnicode_Check(args[0]) || !PyCallable_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "staged_method(name: str, nmin, nmax, fallback)");
        return NULL;
    }
    Py_ssize_t nmin = PyLong_AsSsize_t(args[1]), nmax = nmin == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    if (!stage_attr && !(stage_attr = PyUnicode_InternFromString("_stage"))) return NULL;
    if (!(StagedMethodType.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&StagedMethodType) < 0) return NULL;
    StagedMethod *m = PyObject_GC_New(StagedMethod, &StagedMethodType);
    if (!m) return NULL;
    m->vectorcall = (vectorcallfunc)sm_call;
    m->name = Py_NewRef(args[0]);
    m->nmin = nmin;
    m->nmax = nmax;
    m->fallback = Py_NewRef(args[3]);
    m->dict = NULL;
    PyObject_GC_Track(m);
    return (PyObject *)m;
}

int cp_batch_add_type(PyObject *module) {
    if (PyType_Ready(&BatchType) < 0) return -1;
    return PyModule_AddObjectRef(module, "Batch", (PyObject *)&BatchType);
}
