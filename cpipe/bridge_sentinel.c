// bridge_sentinel.c: the Python side of Sentinel (sentinel_export.go,
// engine/sentinel*.go). The engine asks the sentinels; this file only
// moves arguments in and the answer (a small tape) out.
#include "bridge_sentinel.h"
#include "bridge_pubsub.h"

#include <stdlib.h>
#include "_cgo_export.h"

#define ERRCAP 512

int cp_bridge_forked(void);  // bridge.c: in a forked child Go must not run

static PyObject *exc_no_master, *exc_no_replica;  // redis-py's MasterNotFoundError, SlaveNotFoundError

PyObject *cp_sentinel_exception(int64_t status) {
    if (status == CP_NO_MASTER) return exc_no_master;
    if (status == CP_NO_REPLICA) return exc_no_replica;
    return NULL;
}

// sentinel_configure(MasterNotFoundError, SlaveNotFoundError)
PyObject *py_sentinel_configure(PyObject *self, PyObject *args) {
    PyObject *m, *r;
    if (!PyArg_ParseTuple(args, "OO", &m, &r)) return NULL;
    Py_XSETREF(exc_no_master, Py_NewRef(m));
    Py_XSETREF(exc_no_replica, Py_NewRef(r));
    Py_RETURN_NONE;
}

// sentinel_open(handles, min_other_sentinels, force_master_ip) -> sentinel
PyObject *py_sentinel_open(PyObject *self, PyObject *args) {
    PyObject *list, *force;
    int min_other;
    if (!PyArg_ParseTuple(args, "O!iO", &PyTuple_Type, &list, &min_other, &force)) return NULL;
    if (cp_bridge_ready() < 0) return NULL;
    if (force != Py_None && !PyUnicode_Check(force)) {
        PyErr_SetString(PyExc_TypeError, "sentinel_open: force_master_ip must be a str or None");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(list), force_len = 0;
    const char *force_ip = NULL;
    if (force != Py_None && !(force_ip = PyUnicode_AsUTF8AndSize(force, &force_len))) return NULL;
    if (n < 1 || n > 1024) {
        PyErr_SetString(PyExc_ValueError, "sentinel_open: give 1 to 1024 sentinels");
        return NULL;
    }
    uint64_t *hs = malloc(sizeof(uint64_t) * (size_t)n);
    if (!hs) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        if (cp_bridge_handle(PyTuple_GET_ITEM(list, i), &hs[i]) < 0) { free(hs); return NULL; }
    }
    uint64_t s = cp_sentinel_open(hs, (int)n, min_other, (char *)force_ip, (int)force_len);
    free(hs);
    if (!s) return cp_bridge_raise(CP_CLOSED, "sentinel_open: a sentinel's handle is closed");
    return PyLong_FromUnsignedLongLong(s);
}

// sentinel_target(sentinel, service_name, replica) -> resolver
PyObject *py_sentinel_target(PyObject *self, PyObject *args) {
    PyObject *h_obj; const char *name; Py_ssize_t name_len; int replica;
    uint64_t h;
    if (!PyArg_ParseTuple(args, "Os#p", &h_obj, &name, &name_len, &replica)) return NULL;
    if (cp_bridge_ready() < 0 || cp_bridge_handle(h_obj, &h) < 0) return NULL;
    uint64_t t = cp_sentinel_target(h, (char *)name, (int)name_len, replica);
    if (!t) return cp_bridge_raise(CP_CLOSED, "the Sentinel was closed");
    return PyLong_FromUnsignedLongLong(t);
}

PyObject *py_sentinel_release(PyObject *self, PyObject *arg) {
    uint64_t h;
    if (cp_bridge_handle(arg, &h) < 0) return NULL;
    if (cp_bridge_forked()) Py_RETURN_NONE;   // the parent's, not ours to touch
    cp_sentinel_release(h);
    Py_RETURN_NONE;
}

PyObject *py_sentinel_close(PyObject *self, PyObject *arg) {
    uint64_t h;
    if (cp_bridge_handle(arg, &h) < 0) return NULL;
    if (cp_bridge_forked()) Py_RETURN_NONE;
    Py_BEGIN_ALLOW_THREADS
    cp_sentinel_close(h);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// sentinel_discover(sentinel, service_name, replicas) -> [ip, port] for the
// master (MasterNotFoundError when none), [[ip, port], ...] for replicas.
PyObject *py_sentinel_discover(PyObject *self, PyObject *args) {
    PyObject *h_obj; const char *name; Py_ssize_t name_len; int replicas;
    uint64_t h;
    if (!PyArg_ParseTuple(args, "Os#p", &h_obj, &name, &name_len, &replicas)) return NULL;
    if (cp_bridge_ready() < 0 || cp_bridge_handle(h_obj, &h) < 0) return NULL;
    char *tape = NULL; int64_t tape_len = 0; char err[ERRCAP]; int status, wake = cp_bridge_main_thread();
    Py_BEGIN_ALLOW_THREADS
    status = cp_sentinel_discover(h, (char *)name, (int)name_len, replicas, wake, &tape, &tape_len, err, ERRCAP);
    Py_END_ALLOW_THREADS
    if (status != CP_OK) { free(tape); return cp_bridge_raise(status, err); }
    PyObject *encoding = PyUnicode_FromString("utf-8");
    const char *p = tape;
    PyObject *r = encoding ? cp_bridge_build(&p, encoding) : NULL;
    Py_XDECREF(encoding);
    free(tape);
    return r;
}
