// bridge_bulk.c: the Python side of streamed bulk writes (bulk_export.go,
// engine/bulk*.go).
//
// A BulkWriter encodes each command into its own C buffer (encode.c, as a
// pipeline does) and, every `batch` commands or `batch_bytes` bytes, hands
// the buffer to the engine, which copies it and returns at once: the
// engine's goroutines write it and count its replies while Python goes on
// encoding. Only when the engine's bound on unanswered commands is reached
// does a hand-over wait, with the GIL released. While it waits the buffer
// is detached (busy), so commands added meanwhile from another thread or
// the event loop (asyncio flushes from a worker thread) go into a fresh
// buffer, behind it: order is kept.
//
// blocking 0 (asyncio): command methods never wait; when the engine has
// no room the commands stay in the buffer, and once that holds
// max_pending commands or max_pending_bytes bytes the next one raises
// BufferError, queueing nothing: the caller must `await flush()`.
#include "bridge_bulk.h"
#include "bridge_pubsub.h"   // cp_bridge_build, cp_bridge_raise, cp_bridge_ready, cp_bridge_handle, cp_bridge_main_thread
#include "options.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "_cgo_export.h"

#define ERRCAP 512

typedef struct {
    PyObject_HEAD
    uint64_t h;                 // the engine's Bulk; 0 once closed
    enc_t e;                    // commands not handed over yet, n of them
    Py_ssize_t n;
    Py_ssize_t max_bulk, batch, batch_bytes;
    int64_t max_pending, max_pending_bytes;
    int blocking;               // command methods may wait for room (sync clients)
    int busy;                   // a hand-over waits in the engine with the GIL released
    int64_t inflight;           // the commands of that hand-over
    int64_t dropped;            // commands encoded and never handed over (the Bulk failed first)
    PyObject *names;            // keep_replies: each command's name, in order (None: a raw one); else NULL
    int64_t last[6];            // the engine's counters when it was closed (stats() after close)
    PyObject *lost;             // lost(kind, message, acknowledged, sent, queued) -> the exception for a lost connection
} BulkWriter;

static PyTypeObject BulkWriterType;

int cp_bridge_forked(void);   // bridge.c: in a forked child Go must not run

static int64_t rd64(const char *p) { int64_t v; memcpy(&v, p, 8); return v; }

static int bw_ready(BulkWriter *self) {
    if (cp_bridge_ready() < 0) return -1;
    if (!self->h) {
        cp_bridge_raise(CP_CLOSED, "the bulk writer is closed");
        return -1;
    }
    return 0;
}

// Raises for a failed engine call. A lost connection (or a timeout, or a
// protocol error) is the exception lost() builds, carrying the counts: the
// acknowledged commands are the resume point.
static PyObject *bw_raise(BulkWriter *self, int status, const char *err) {
    if (status == CP_BULK_DATA) { PyErr_SetString(cp_exc_data, err); return NULL; }
    if (status != CP_CONNECTION && status != CP_TIMEOUT && status != CP_PROTOCOL) return cp_bridge_raise(status, err);
    int64_t s[6] = {0};
    if (self->h) cp_bulk_stats(self->h, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5]);
    const char *kind = status == CP_TIMEOUT ? "timeout" : status == CP_PROTOCOL ? "protocol" : "connection";
    PyObject *exc = PyObject_CallFunction(self->lost, "ssLLL", kind, err, (long long)s[2], (long long)s[1],
                                          (long long)s[0]);
    if (exc) { PyErr_SetObject((PyObject *)Py_TYPE(exc), exc); Py_DECREF(exc); }
    return NULL;
}

// Hands the buffer to the engine. wait 0: CP_WOULDBLOCK (keeping the
// buffer) when the engine has no room, or while another hand-over waits.
static int handoff(BulkWriter *self, int wait, char *err) {
    if (self->n == 0) return CP_OK;
    if (self->busy) return CP_WOULDBLOCK;
    int status = cp_bulk_send(self->h, self->e.buf, self->e.len, self->n, 0, 0, err, ERRCAP);
    if (status == CP_OK || (status == CP_WOULDBLOCK && !wait)) {
        if (status == CP_OK) { self->e.len = 0; self->n = 0; }
        return status;
    }
    if (status != CP_WOULDBLOCK) {
        self->dropped += self->n;
        self->e.len = 0; self->n = 0;
        return status;
    }
    // Detach the buffer: commands added while we wait go into a new one.
    enc_t out = self->e;
    if (self->e.buf == self->e.small) out.buf = out.small;
    enc_init(&self->e, self->max_bulk);
    self->busy = 1;
    self->inflight = self->n;
    self->n = 0;
    uint64_t h = self->h;
    int64_t n = self->inflight;
    int wake = cp_bridge_main_thread();
    Py_BEGIN_ALLOW_THREADS
    status = cp_bulk_send(h, out.buf, out.len, n, 1, wake, err, ERRCAP);
    Py_END_ALLOW_THREADS
    enc_free(&out);
    self->busy = 0;
    if (status != CP_OK) self->dropped += self->inflight;
    self->inflight = 0;
    return status;
}

// add(*command): encode and queue one command; hands a full batch over.
static PyObject *bw_add(BulkWriter *self, PyObject *const *args, Py_ssize_t nargs) {
    if (bw_ready(self) < 0) return NULL;
    Py_ssize_t before = self->e.len;
    batch_kind_t kind = {0, -1};
    if (enc_command(&self->e, args, nargs, &kind) < 0) { self->e.len = before; return NULL; }
    if (kind.blocking) {
        self->e.len = before;
        PyErr_SetString(cp_exc_data, "a blocking command (BLPOP, WAIT, XREAD BLOCK, ...) cannot be sent in a bulk: "
                                     "it would stall every command behind it");
        return NULL;
    }
    if (self->names && PyList_Append(self->names, args[0]) < 0) { self->e.len = before; return NULL; }
    self->n++;
    if (self->n < self->batch && self->e.len < self->batch_bytes) Py_RETURN_NONE;
    char err[ERRCAP];
    int status = handoff(self, self->blocking && !self->busy, err);
    if (status == CP_OK) Py_RETURN_NONE;
    if (status != CP_WOULDBLOCK) return bw_raise(self, status, err);
    if (self->n <= self->max_pending && self->e.len <= self->max_pending_bytes) Py_RETURN_NONE;
    // No room in the engine and the buffer is full: refuse this command.
    self->e.len = before;
    self->n--;
    if (self->names) PyList_SetSlice(self->names, PyList_GET_SIZE(self->names) - 1, PY_SSIZE_T_MAX, NULL);
    PyErr_Format(PyExc_BufferError, "the bulk buffer is full (%zd commands, %zd bytes) and the server has not "
                 "caught up: await flush() before adding more (the command was not queued)", self->n, self->e.len);
    return NULL;
}

// flush(wait) -> bool: hand the buffer over; with wait false, False when
// it would have to wait (nothing changes).
static PyObject *bw_flush(BulkWriter *self, PyObject *arg) {
    if (bw_ready(self) < 0) return NULL;
    int wait = PyObject_IsTrue(arg);
    if (wait < 0) return NULL;
    char err[ERRCAP];
    int status = handoff(self, wait, err);
    if (status == CP_WOULDBLOCK) {
        if (wait) {
            PyErr_SetString(PyExc_RuntimeError, "flush() while another thread's flush waits: a bulk is used by one thread at a time");
            return NULL;
        }
        Py_RETURN_FALSE;
    }
    if (status != CP_OK) return bw_raise(self, status, err);
    Py_RETURN_TRUE;
}

// send_raw(data, commands) -> commands counted: a chunk of pre-encoded
// requests (RESP or inline, cut anywhere), after the queued commands.
// commands >= 0 must be the number of commands the chunk completes, or
// DataError and nothing is sent; -1: count them.
static PyObject *bw_send_raw(BulkWriter *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "send_raw(data, commands)"); return NULL; }
    if (bw_ready(self) < 0) return NULL;
    long long want = PyLong_AsLongLong(args[1]);
    if (want == -1 && PyErr_Occurred()) return NULL;
    if (want < -1) { PyErr_SetString(PyExc_ValueError, "send_raw: commands must be >= 0, or -1 to count them"); return NULL; }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "send_raw() while another thread's flush waits: a bulk is used by one thread at a time");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    char err[ERRCAP];
    int64_t counted = 0;
    int status = handoff(self, 1, err);
    if (status == CP_OK) {
        status = cp_bulk_send_raw(self->h, view.buf, view.len, want, 0, 0, &counted, err, ERRCAP);
        if (status == CP_WOULDBLOCK) {
            uint64_t h = self->h;
            int wake = cp_bridge_main_thread();
            self->busy = 1;
            Py_BEGIN_ALLOW_THREADS
            status = cp_bulk_send_raw(h, view.buf, view.len, want, 1, wake, &counted, err, ERRCAP);
            Py_END_ALLOW_THREADS
            self->busy = 0;
        }
    }
    PyBuffer_Release(&view);
    if (status != CP_OK) return bw_raise(self, status, err);
    for (int64_t i = 0; self->names && i < counted; i++)
        if (PyList_Append(self->names, Py_None) < 0) return NULL;
    return PyLong_FromLongLong(counted);
}

// finish(): hand the buffer over and wait for every reply.
static PyObject *bw_finish(BulkWriter *self, PyObject *unused) {
    if (bw_ready(self) < 0) return NULL;
    char err[ERRCAP];
    int status = handoff(self, 1, err);
    if (status == CP_WOULDBLOCK) {
        PyErr_SetString(PyExc_RuntimeError, "finish() while another thread's flush waits: a bulk is used by one thread at a time");
        return NULL;
    }
    if (status == CP_OK) {
        uint64_t h = self->h;
        int wake = cp_bridge_main_thread();
        Py_BEGIN_ALLOW_THREADS
        status = cp_bulk_finish(h, wake, err, ERRCAP);
        Py_END_ALLOW_THREADS
    }
    if (status != CP_OK) return bw_raise(self, status, err);
    Py_RETURN_NONE;
}

// discard(): drop the commands not handed over yet (never sent).
static PyObject *bw_discard(BulkWriter *self, PyObject *unused) {
    self->dropped += self->n;
    self->e.len = 0;
    self->n = 0;
    Py_RETURN_NONE;
}

// stats() -> (queued, sent, acknowledged, errors, pending_bytes,
// peak_pending_bytes, buffered_commands, buffered_bytes, dropped): the
// engine's counters, then the writer's own buffer (commands not handed over).
static PyObject *bw_stats(BulkWriter *self, PyObject *unused) {
    int64_t *s = self->last;
    if (self->h && !cp_bridge_forked()) cp_bulk_stats(self->h, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5]);
    return Py_BuildValue("(LLLLLLLLL)", (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3],
                         (long long)s[4], (long long)s[5], (long long)(self->n + self->inflight),
                         (long long)self->e.len, (long long)self->dropped);
}

// A command's RESP (an array of bulk strings, as the engine keeps it) as a
// tuple of bytes; None if it is not one.
static PyObject *command_args(const char *p, Py_ssize_t len) {
    const char *end = p + len;
    if (len < 4 || *p != '*') Py_RETURN_NONE;
    long long n = 0;
    for (p++; p < end && *p >= '0' && *p <= '9'; p++) n = n * 10 + (*p - '0');
    p += 2;
    if (p > end || n > len) Py_RETURN_NONE;
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (long long i = 0; t && i < n; i++) {
        long long l = 0;
        if (p >= end || *p != '$') { Py_DECREF(t); Py_RETURN_NONE; }
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) l = l * 10 + (*p - '0');
        p += 2;
        if (p + l > end) { Py_DECREF(t); Py_RETURN_NONE; }
        PyObject *a = PyBytes_FromStringAndSize(p, (Py_ssize_t)l);
        if (!a) { Py_CLEAR(t); break; }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, a);
        p += l + 2;
    }
    return t;
}

// take_errors() -> [(index, args or None, exception)]: the error replies
// kept since the last call.
static PyObject *bw_take_errors(BulkWriter *self, PyObject *unused) {
    if (!self->h || cp_bridge_forked()) return PyList_New(0);
    char *tape = NULL; int64_t tape_len = 0;
    int64_t n = cp_bulk_errors(self->h, &tape, &tape_len);
    PyObject *out = PyList_New((Py_ssize_t)n);
    const char *p = tape;
    for (int64_t i = 0; out && i < n; i++) {
        int64_t index = rd64(p + 1);
        p += 9;
        PyObject *args;
        if (*p == '_') { p++; args = Py_NewRef(Py_None); }
        else { int64_t l = rd64(p + 1); args = command_args(p + 9, (Py_ssize_t)l); p += 9 + l; }
        PyObject *exc = args ? cp_bridge_build(&p, Py_None) : NULL;
        PyObject *item = exc ? Py_BuildValue("(LNN)", (long long)index, args, exc) : NULL;
        if (!item) { Py_XDECREF(args); Py_CLEAR(out); break; }
        PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    free(tape);
    return out;
}

// take_replies(encoding) -> [reply]: the replies read since the last call
// (keep_replies), decoded as the client's (errors in place).
static PyObject *bw_take_replies(BulkWriter *self, PyObject *encoding) {
    if (!self->h || cp_bridge_forked()) return PyList_New(0);
    char *tape = NULL; int64_t tape_len = 0;
    int64_t n = cp_bulk_replies(self->h, &tape, &tape_len);
    PyObject *out = PyList_New((Py_ssize_t)n);
    const char *p = tape;
    for (int64_t i = 0; out && i < n; i++) {
        PyObject *item = cp_bridge_build(&p, encoding);
        if (!item) { Py_CLEAR(out); break; }
        PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    free(tape);
    return out;
}

static PyObject *bw_protocol(BulkWriter *self, PyObject *unused) {
    if (!self->h || cp_bridge_forked()) return PyLong_FromLong(0);
    return PyLong_FromLong(cp_bulk_protocol(self->h));
}

static void bw_close_handle(BulkWriter *self) {
    uint64_t h = self->h;
    if (!h || cp_bridge_forked()) { self->h = 0; return; }   // a forked child: the parent's connection is not ours
    int64_t *s = self->last;
    cp_bulk_stats(h, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5]);
    self->h = 0;
    Py_BEGIN_ALLOW_THREADS
    cp_bulk_close(h);
    Py_END_ALLOW_THREADS
}

// close(): abandon what is unanswered and close the connection.
static PyObject *bw_close(BulkWriter *self, PyObject *unused) {
    bw_close_handle(self);
    Py_RETURN_NONE;
}

static PyObject *bw_names(BulkWriter *self, void *unused) {
    return Py_NewRef(self->names ? self->names : Py_None);
}

static void bw_dealloc(BulkWriter *self) {
    bw_close_handle(self);
    enc_free(&self->e);
    Py_XDECREF(self->names);
    Py_XDECREF(self->lost);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef bw_methods[] = {
    {"add", (PyCFunction)(void (*)(void))bw_add, METH_FASTCALL, "add(*command): queue one command"},
    {"flush", (PyCFunction)bw_flush, METH_O, "flush(wait) -> bool: hand the buffered commands to the engine"},
    {"send_raw", (PyCFunction)(void (*)(void))bw_send_raw, METH_FASTCALL, "send_raw(data, commands) -> commands counted"},
    {"finish", (PyCFunction)bw_finish, METH_NOARGS, "finish(): wait for every reply"},
    {"discard", (PyCFunction)bw_discard, METH_NOARGS, "discard(): drop the commands not handed over"},
    {"stats", (PyCFunction)bw_stats, METH_NOARGS, "stats() -> counters"},
    {"take_errors", (PyCFunction)bw_take_errors, METH_NOARGS, "take_errors() -> [(index, args, exception)]"},
    {"take_replies", (PyCFunction)bw_take_replies, METH_O, "take_replies(encoding) -> [reply]"},
    {"protocol", (PyCFunction)bw_protocol, METH_NOARGS, "protocol() -> RESP version"},
    {"close", (PyCFunction)bw_close, METH_NOARGS, "close()"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef bw_getset[] = {
    {"names", (getter)bw_names, NULL, "keep_replies: the commands' names, in order (None for raw ones)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BulkWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cpipe._native.BulkWriter",
    .tp_basicsize = sizeof(BulkWriter),
    .tp_dealloc = (destructor)bw_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A bulk connection's command buffer (see cpipe.bulk)",
    .tp_methods = bw_methods,
    .tp_getset = bw_getset,
};

static int as_size(PyObject *o, const char *name, long long lo, long long *out) {
    *out = PyLong_AsLongLong(o);
    if (*out == -1 && PyErr_Occurred()) return -1;
    if (*out < lo) { PyErr_Format(PyExc_ValueError, "bulk_open: %s must be >= %lld", name, lo); return -1; }
    return 0;
}

// bulk_open(handle, max_bulk, batch, batch_bytes, max_pending,
// max_pending_bytes, max_errors, keep_replies, blocking, lost) -> BulkWriter,
// connected (with the GIL released) on a connection of its own, made as
// the client's are.
PyObject *py_bulk_open(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h; Py_ssize_t max_bulk;
    long long batch, batch_bytes, max_pending, max_pending_bytes, max_errors;
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "bulk_open(handle, max_bulk, batch, batch_bytes, max_pending, "
                                         "max_pending_bytes, max_errors, keep_replies, blocking, lost)");
        return NULL;
    }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0 || parse_max_bulk(args[1], &max_bulk) < 0 ||
        as_size(args[2], "batch", 1, &batch) < 0 || as_size(args[3], "batch_bytes", 1, &batch_bytes) < 0 ||
        as_size(args[4], "max_pending", 1, &max_pending) < 0 ||
        as_size(args[5], "max_pending_bytes", 1, &max_pending_bytes) < 0 ||
        as_size(args[6], "max_errors", 1, &max_errors) < 0) return NULL;
    int keep = PyObject_IsTrue(args[7]), blocking = keep < 0 ? -1 : PyObject_IsTrue(args[8]);
    if (blocking < 0) return NULL;
    if (!(BulkWriterType.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&BulkWriterType) < 0) return NULL;
    BulkWriter *self = PyObject_New(BulkWriter, &BulkWriterType);
    if (!self) return NULL;
    self->h = 0;
    memset(self->last, 0, sizeof self->last);
    enc_init(&self->e, max_bulk);
    self->n = 0;
    self->max_bulk = max_bulk;
    self->batch = (Py_ssize_t)batch;
    self->batch_bytes = (Py_ssize_t)batch_bytes;
    self->max_pending = max_pending;
    self->max_pending_bytes = max_pending_bytes;
    self->blocking = blocking;
    self->busy = 0;
    self->inflight = 0;
    self->dropped = 0;
    self->lost = Py_NewRef(args[9]);
    self->names = keep ? PyList_New(0) : NULL;
    if (keep && !self->names) { Py_DECREF(self); return NULL; }
    self->h = cp_bulk_open(h, max_pending, max_pending_bytes, max_errors, keep);
    if (!self->h) { Py_DECREF(self); return cp_bridge_raise(CP_CLOSED, "the client was closed"); }
    char err[ERRCAP]; int status, wake = cp_bridge_main_thread();
    uint64_t bh = self->h;
    Py_BEGIN_ALLOW_THREADS
    status = cp_bulk_connect(bh, wake, err, ERRCAP);
    Py_END_ALLOW_THREADS
    if (status != CP_OK) { Py_DECREF(self); return cp_bridge_raise(status, err); }
    return (PyObject *)self;
}
