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

int cp_batch_add_type(PyObject *module) {
    if (PyType_Ready(&BatchType) < 0) return -1;
    return PyModule_AddObjectRef(module, "Batch", (PyObject *)&BatchType);
}
