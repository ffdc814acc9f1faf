// bridge_pubsub.c: the Python side of pub/sub and MONITOR connections
// (pubsub_export.go, engine/subscriber*.go). One connection per
// subscriber, read by the engine's own goroutine into a bounded queue;
// Python takes messages from it in batches (sub_poll), each batch one
// crossing and one tape walk.
#include "bridge_pubsub.h"
#include "options.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "_cgo_export.h"

#define ERRCAP 512
// How long one wait in the engine lasts in the thread that runs signal
// handlers (engine/options.go interruptTick), and in any other thread
// (which only Close needs to wake, and Close does).
#define SUB_TICK 0.05
#define SUB_SLICE 1.0

// sub_open(handle, max_messages, max_bytes, monitor, notify_fd, reconnect_for) -> subscriber
PyObject *py_sub_open(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "sub_open(handle, max_messages, max_bytes, monitor, notify_fd, reconnect_for)");
        return NULL;
    }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0) return NULL;
    long long max_messages = PyLong_AsLongLong(args[1]);
    long long max_bytes = max_messages == -1 && PyErr_Occurred() ? -1 : PyLong_AsLongLong(args[2]);
    int monitor = PyErr_Occurred() ? -1 : PyObject_IsTrue(args[3]);
    long notify_fd = monitor < 0 ? -1 : PyLong_AsLong(args[4]);
    double reconnect_for = PyErr_Occurred() ? -1 : PyFloat_AsDouble(args[5]);
    if (PyErr_Occurred()) return NULL;
    if (max_messages < 0 || max_bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "sub_open: max_messages and max_bytes must be >= 0 (0: the engine's default)");
        return NULL;
    }
    if (isnan(reconnect_for) || reconnect_for > CP_MAX_SECONDS) {
        PyErr_SetString(PyExc_ValueError, "sub_open: reconnect_for must be a number of seconds (negative: forever)");
        return NULL;
    }
    uint64_t s = cp_sub_open(h, max_messages, max_bytes, monitor, (int)notify_fd, reconnect_for);
    if (!s) return cp_bridge_raise(CP_CLOSED, "the client was closed");
    return PyLong_FromUnsignedLongLong(s);
}

// sub_send(subscriber, max_bulk, *command): write one pub/sub command;
// connects first when needed, with the GIL released.
PyObject *py_sub_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h; Py_ssize_t max_bulk;
    if (nargs < 3) { PyErr_SetString(PyExc_TypeError, "sub_send(subscriber, max_bulk, *command)"); return NULL; }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0 || parse_max_bulk(args[1], &max_bulk) < 0) return NULL;
    enc_t e; enc_init(&e, max_bulk);
    // Not classified: pub/sub commands are exactly what this connection is for.
    if (enc_command(&e, args + 2, nargs - 2, NULL) < 0) { enc_free(&e); return NULL; }
    char err[ERRCAP]; int status, wake = cp_bridge_main_thread();
    Py_BEGIN_ALLOW_THREADS
    status = cp_sub_send(h, e.buf, e.len, wake, err, ERRCAP);
    Py_END_ALLOW_THREADS
    enc_free(&e);
    if (status != CP_OK) return cp_bridge_raise(status, err);
    Py_RETURN_NONE;
}

// sub_start(subscriber): connect a MONITOR connection (its +OK is read).
PyObject *py_sub_start(PyObject *self, PyObject *arg) {
    uint64_t h;
    if (cp_bridge_ready() < 0 || cp_bridge_handle(arg, &h) < 0) return NULL;
    char err[ERRCAP]; int status, wake = cp_bridge_main_thread();
    Py_BEGIN_ALLOW_THREADS
    status = cp_sub_start(h, wake, err, ERRCAP);
    Py_END_ALLOW_THREADS
    if (status != CP_OK) return cp_bridge_raise(status, err);
    Py_RETURN_NONE;
}

// sub_poll(subscriber, encoding, timeout, max) -> list of messages (each a
// list, or bytes/str for MONITOR lines and PONG; a message that cannot be
// decoded is an exception instance in place), [] when none came within
// timeout (None: wait until one does), or None once the subscriber is
// closed (a poll waiting in another thread returns None at once).
// A lost connection the engine could not replace raises ConnectionError.
// Waits release the GIL, one tick at a time in the main thread, so a
// signal handler (Ctrl-C) runs within a tick.
PyObject *py_sub_poll(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h;
    if (nargs != 4) { PyErr_SetString(PyExc_TypeError, "sub_poll(subscriber, encoding, timeout, max)"); return NULL; }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0) return NULL;
    PyObject *encoding = args[1];
    int forever = args[2] == Py_None;
    double timeout = forever ? 0 : PyFloat_AsDouble(args[2]);
    if (!forever && timeout == -1 && PyErr_Occurred()) return NULL;
    long long max = PyLong_AsLongLong(args[3]);
    if (max == -1 && PyErr_Occurred()) return NULL;
    if (isnan(timeout)) { PyErr_SetString(PyExc_ValueError, "sub_poll: timeout must be a number of seconds or None"); return NULL; }
    char *tape = NULL; int64_t tape_len = 0, count = 0; char err[ERRCAP]; int status;
    if (!forever && timeout <= 0) {
        status = cp_sub_poll(h, 0, max, &tape, &tape_len, &count, err, ERRCAP);  // never waits: keep the GIL
    } else {
        double slice = cp_bridge_main_thread() ? SUB_TICK : SUB_SLICE;
        double left = timeout;
        for (;;) {
            double wait = forever || left > slice ? slice : left;
            Py_BEGIN_ALLOW_THREADS
            status = cp_sub_poll(h, wait, max, &tape, &tape_len, &count, err, ERRCAP);
            Py_END_ALLOW_THREADS
            if (status != CP_OK || count > 0) break;
            free(tape); tape = NULL;
            if (PyErr_CheckSignals() < 0) return NULL;
            if (!forever && (left -= wait) <= 0) break;
        }
    }
    if (status == CP_CLOSED) { free(tape); Py_RETURN_NONE; }
    if (status != CP_OK) { free(tape); return cp_bridge_raise(status, err); }
    PyObject *out = PyList_New((Py_ssize_t)count);
    const char *p = tape;
    for (int64_t i = 0; out && i < count; i++) {
        PyObject *item = cp_bridge_build(&p, encoding);
        if (!item) Py_CLEAR(out); else PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    free(tape);
    return out;
}

// sub_stats(subscriber) -> (queued messages, queued bytes, reconnects), or None once closed.
PyObject *py_sub_stats(PyObject *self, PyObject *arg) {
    uint64_t h;
    if (cp_bridge_ready() < 0 || cp_bridge_handle(arg, &h) < 0) return NULL;
    int64_t out[3] = {0, 0, 0};
    if (!cp_sub_stats(h, &out[0], &out[1], &out[2])) Py_RETURN_NONE;
    return Py_BuildValue("(LLL)", (long long)out[0], (long long)out[1], (long long)out[2]);
}

// sub_close(subscriber): safe from any thread, more than once.
PyObject *py_sub_close(PyObject *self, PyObject *arg) {
    uint64_t h;
    if (cp_bridge_handle(arg, &h) < 0) return NULL;
    if (cp_bridge_ready() < 0) { PyErr_Clear(); Py_RETURN_NONE; }  // a forked child: the parent's to close
    Py_BEGIN_ALLOW_THREADS
    cp_sub_close(h);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}
