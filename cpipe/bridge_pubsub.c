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

// Published messages as redis-py's handle_message makes them, built here
// without the intermediate list: {"type": "message" | "smessage",
// "pattern": None, "channel": c, "data": d} from [message, c, d], and
// {"type": "pmessage", "pattern": p, "channel": c, "data": d} from
// [pmessage, p, c, d]. The type is always str, as str_if_bytes makes it.
static PyObject *k_type, *k_pattern, *k_channel, *k_data, *v_message, *v_pmessage, *v_smessage;

static int init_message_keys(void) {
    if (k_type) return 0;
    k_type = PyUnicode_InternFromString("type");
    k_pattern = PyUnicode_InternFromString("pattern");
    k_channel = PyUnicode_InternFromString("channel");
    k_data = PyUnicode_InternFromString("data");
    v_message = PyUnicode_InternFromString("message");
    v_pmessage = PyUnicode_InternFromString("pmessage");
    v_smessage = PyUnicode_InternFromString("smessage");
    return (k_type && k_pattern && k_channel && k_data && v_message && v_pmessage && v_smessage) ? 0 : -1;
}

static int64_t rd64p(const char *p) { int64_t v; memcpy(&v, p, 8); return v; }

// The type of a published message at p ('*' n, '$' kind ...), or NULL.
static PyObject *published_type(const char *p) {
    if (p[0] != '*' || p[9] != '$') return NULL;
    int64_t n = rd64p(p + 1), len = rd64p(p + 10);
    const char *kind = p + 18;
    if (n == 3 && len == 7 && memcmp(kind, "message", 7) == 0) return v_message;
    if (n == 3 && len == 8 && memcmp(kind, "smessage", 8) == 0) return v_smessage;
    if (n == 4 && len == 8 && memcmp(kind, "pmessage", 8) == 0) return v_pmessage;
    return NULL;
}

// The message dict for the published message at *pp, advancing *pp past it;
// a part that cannot be decoded makes the whole message that exception.
static PyObject *build_published(const char **pp, PyObject *type, PyObject *encoding) {
    const char *p = *pp + 18 + rd64p(*pp + 10);  // past the array header and the kind
    PyObject *pattern = NULL, *channel = NULL, *data = NULL, *d = NULL;
    if (type == v_pmessage) {
        pattern = cp_bridge_build(&p, encoding);
        if (!pattern) return NULL;
    } else {
        pattern = Py_NewRef(Py_None);
    }
    channel = cp_bridge_build(&p, encoding);
    data = channel ? cp_bridge_build(&p, encoding) : NULL;
    *pp = p;
    if (!data) goto done;
    PyObject *bad = PyExceptionInstance_Check(pattern) ? pattern : PyExceptionInstance_Check(channel) ? channel
                    : PyExceptionInstance_Check(data) ? data : NULL;
    if (bad) { d = Py_NewRef(bad); goto done; }
    d = PyDict_New();
    if (d && (PyDict_SetItem(d, k_type, type) < 0 || PyDict_SetItem(d, k_pattern, pattern) < 0 ||
              PyDict_SetItem(d, k_channel, channel) < 0 || PyDict_SetItem(d, k_data, data) < 0)) Py_CLEAR(d);
done:
    Py_XDECREF(pattern); Py_XDECREF(channel); Py_XDECREF(data);
    return d;
}

// sub_poll(subscriber, encoding, timeout, max, dicts) -> list of messages (each a
// list, or bytes/str for MONITOR lines and PONG; a message that cannot be
// decoded is an exception instance in place), [] when none came within
// timeout (None: wait until one does), or None once the subscriber is
// closed (a poll waiting in another thread returns None at once). With
// dicts, published messages come as redis-py's message dicts (see above).
// A lost connection the engine could not replace raises ConnectionError.
// Waits release the GIL, one tick at a time in the main thread, so a
// signal handler (Ctrl-C) runs within a tick.
PyObject *py_sub_poll(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h;
    if (nargs != 5) { PyErr_SetString(PyExc_TypeError, "sub_poll(subscriber, encoding, timeout, max, dicts)"); return NULL; }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0) return NULL;
    int dicts = PyObject_IsTrue(args[4]);
    if (dicts < 0 || (dicts && init_message_keys() < 0)) return NULL;
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
        PyObject *type = dicts ? published_type(p) : NULL;
        PyObject *item = type ? build_published(&p, type, encoding) : cp_bridge_build(&p, encoding);
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
