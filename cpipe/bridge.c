// bridge.c: the only code that touches PyObject (with encode.c).
//
// Python calls in with command arguments; encode.c encodes them to RESP in
// one contiguous C buffer and classifies each command (plain, blocking or
// refused) in the same pass; this file releases the GIL, calls the Go engine
// once per batch, and builds Python objects by walking the engine's reply
// tape once (grammar in engine/tape.go). Exceptions are raised in one place,
// raise_status(); the exception classes and the error-reply factory are
// handed in from Python by configure(), so names match redis-py.
#include "encode.h"
#include "options.h"
#include "bridge_pubsub.h"
#include "bridge_sentinel.h"
#include "bridge_cluster.h"
#include "bridge_stage.h"
#include "bridge_future.h"
#include "bridge_bulk.h"
#include "bridge_threads.h"
#include "bridge_batch.h"
#include "bridge_hot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "_cgo_export.h"

// ---------------------------------------------------------------- state

static PyObject *error_factory;   // callable(str) -> ResponseError instance
static PyObject *exc_connection, *exc_timeout, *exc_auth, *exc_protocol, *exc_fork;  // DataError: cp_exc_data
static int forked;                // set in a forked child: Go must not run there
static unsigned long main_thread; // the thread that runs Python's signal handlers

#define ERRCAP 512

// Bits that submit and submit_many return when they queued the request (see
// submit_result); a prepared request's first byte holds SUBMIT_BLOCKING too.
#define SUBMIT_QUEUED 1
#define SUBMIT_BLOCKING 2

// ---------------------------------------------------------------- replies

static int64_t rd64(const char *p) { int64_t v; memcpy(&v, p, 8); return v; }

// encoding_errors= other than "strict": a (codec, errors) tuple, off make_str's fast path.
static PyObject *make_str_with_errors(const char *p, Py_ssize_t n, PyObject *encoding) {
    if (!PyTuple_Check(encoding) || PyTuple_GET_SIZE(encoding) != 2 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(encoding, 0)) || !PyUnicode_Check(PyTuple_GET_ITEM(encoding, 1))) {
        PyErr_SetString(PyExc_TypeError, "encoding must be None, a codec name or a (codec, errors) tuple");
        return NULL;
    }
    const char *codec = PyUnicode_AsUTF8(PyTuple_GET_ITEM(encoding, 0));
    const char *errors = codec ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(encoding, 1)) : NULL;
    if (!errors) return NULL;
    return PyUnicode_Decode(p, n, codec, errors);
}

// encoding: None (bytes), a codec name (decoded strictly) or (codec, errors).
static PyObject *make_str(const char *p, Py_ssize_t n, PyObject *encoding) {
    if (encoding == Py_None) return PyBytes_FromStringAndSize(p, n);
    if (PyUnicode_Check(encoding)) return PyUnicode_Decode(p, n, PyUnicode_AsUTF8(encoding), "strict");
    return make_str_with_errors(p, n, encoding);
}

static PyObject *make_error(const char *p, Py_ssize_t n) {
    PyObject *msg = PyUnicode_DecodeUTF8(p, n, "replace");
    if (!msg) return NULL;
    PyObject *exc = PyObject_CallOneArg(error_factory, msg);
    Py_DECREF(msg);
    return exc;
}

// An init command's error reply (CP_INIT, or CP_AUTH for AUTH), named and
// worded as redis-py does (WRONGPASS -> AuthenticationError, prefix dropped).
// A refused AUTH stays an AuthenticationError even if redis-py's table does
// not know its reply.
static PyObject *init_error(int64_t status, const char *p, Py_ssize_t n) {
    PyObject *exc = make_error(p, n);
    if (!exc || status != CP_AUTH || PyObject_TypeCheck(exc, (PyTypeObject *)exc_auth)) return exc;
    Py_DECREF(exc);
    PyObject *msg = PyUnicode_DecodeUTF8(p, n, "replace");
    exc = msg ? PyObject_CallOneArg(exc_auth, msg) : NULL;
    Py_XDECREF(msg);
    return exc;
}

// Returns the address just past the entry at p.
static const char *tape_skip(const char *p) {
    char kind = *p++;
    if (kind == '_') return p;
    int64_t v = rd64(p);
    p += 8;
    switch (kind) {
    case ':': case ',': case '#': return p;
    case '%': v *= 2; /* fall through: a key and a value per pair */
    case '*': case '~': case '>':
        for (int64_t i = 0; i < v; i++) p = tape_skip(p);
        return p;
    default: return p + v;
    }
}

static PyObject *build(const char **pp, PyObject *encoding);
static PyObject *build_resp3(const char **pp, char kind, int64_t v, PyObject *encoding);

// Like build, but a reply that cannot be converted (bytes that do not
// decode) becomes that exception, in place, and the walk goes on: one bad
// reply must not take its neighbours' replies with it.
static PyObject *build_or_error(const char **pp, PyObject *encoding) {
    const char *end = tape_skip(*pp);
    PyObject *r = build(pp, encoding);
    if (r) return r;
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return NULL;  // MemoryError etc.: give up
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb) { PyException_SetTraceback(value, tb); Py_DECREF(tb); }
    Py_XDECREF(type);
    *pp = end;
    return value;
}

// Builds the object for the entry at *pp and advances *pp past it.
// Error replies become exception instances, in place.
static PyObject *build(const char **pp, PyObject *encoding) {
    const char *p = *pp;
    char kind = *p++;
    PyObject *r;
    if (kind == '_') { *pp = p; Py_RETURN_NONE; }
    int64_t v = rd64(p);
    p += 8;
    switch (kind) {
    case ':':
        *pp = p;
        return PyLong_FromLongLong(v);
    case '$':
    case '+':
        *pp = p + v;
        return make_str(p, (Py_ssize_t)v, encoding);
    case '-':
        *pp = p + v;
        return make_error(p, (Py_ssize_t)v);
    case '*':
    case '~':   // a set is a list, as redis-py's RESP3 parsers give it (elements may be unhashable)
    case '>':
        r = PyList_New((Py_ssize_t)v);
        if (!r) return NULL;
        *pp = p;
        for (int64_t i = 0; i < v; i++) {
            PyObject *item = build(pp, encoding);
            if (!item) { Py_DECREF(r); return NULL; }
            PyList_SET_ITEM(r, (Py_ssize_t)i, item);
        }
        return r;
    }
    *pp = p;
    return build_resp3(pp, kind, v, encoding);
}

// The RESP3 scalars and maps, as redis-py's RESP3 parser builds them: a
// double is a float, a boolean a bool, a big number an int, a verbatim
// string its text without the "txt:" prefix (bytes, or str when decoding),
// a map a dict. *pp is just past the entry's 8-byte header.
static PyObject *build_resp3(const char **pp, char kind, int64_t v, PyObject *encoding) {
    const char *p = *pp;
    switch (kind) {
    case ',': {
        double d;
        memcpy(&d, &v, 8);
        return PyFloat_FromDouble(d);
    }
    case '#':
        return PyBool_FromLong(v != 0);
    case '(': {
        *pp = p + v;
        PyObject *text = PyUnicode_DecodeASCII(p, (Py_ssize_t)v, "strict");
        PyObject *r = text ? PyLong_FromUnicodeObject(text, 10) : NULL;
        Py_XDECREF(text);
        return r;
    }
    case '=':
        *pp = p + v;
        return make_str(p + 4, (Py_ssize_t)v - 4, encoding);   // the reader checked the "fmt:" prefix
    case '%': {
        PyObject *d = PyDict_New();
        for (int64_t i = 0; d && i < v; i++) {
            PyObject *key = build(pp, encoding);
            PyObject *value = key ? build(pp, encoding) : NULL;
            if (!value || PyDict_SetItem(d, key, value) < 0) Py_CLEAR(d);  // an unhashable key: TypeError
            Py_XDECREF(key);
            Py_XDECREF(value);
        }
        return d;
    }
    }
    PyErr_Format(PyExc_SystemError, "cpipe: corrupt reply tape (kind %d)", kind);
    return NULL;
}

// ---------------------------------------------------------------- signals

// Whether the calling thread runs Python's signal handlers: only there can
// a wait in the engine be cut short by Ctrl-C (engine/interrupt.go).
static inline int interruptible(void) { return PyThread_get_thread_ident() == main_thread; }

// ---------------------------------------------------------------- errors

static PyObject *exc_for_status(int64_t status) {
    PyObject *sentinel = cp_sentinel_exception(status);  // MasterNotFoundError, SlaveNotFoundError
    if (sentinel) return sentinel;
    PyObject *cluster = cp_cluster_exception(status);    // RedisClusterException, ClusterDownError, ...
    if (cluster) return cluster;
    return status == CP_TIMEOUT ? exc_timeout : status == CP_PROTOCOL ? exc_protocol : exc_connection;
}

// The exception instance for a failed call or asynchronous completion.
static PyObject *status_error(int64_t status, const char *p, Py_ssize_t len) {
    if (status == CP_INIT || status == CP_AUTH) return init_error(status, p, len);
    PyObject *msg = PyUnicode_DecodeUTF8(p, len, "replace");
    PyObject *value = msg ? PyObject_CallOneArg(exc_for_status(status), msg) : NULL;
    Py_XDECREF(msg);
    return value;
}

static PyObject *raise_status(int status, const char *msg) {
    if (status == CP_INTERRUPTED && PyErr_Occurred()) return NULL;  // the signal handler's exception
    PyObject *exc = status_error(status, msg, (Py_ssize_t)strlen(msg));
    if (exc) { PyErr_SetObject((PyObject *)Py_TYPE(exc), exc); Py_DECREF(exc); }
    return NULL;
}

static int check_ready(void) {
    if (forked) {
        PyErr_SetString(exc_fork,
            "cpipe cannot be used in a child created by fork() after the parent used it: "
            "the Go runtime does not survive fork. Create clients after forking "
            "(gunicorn without --preload, multiprocessing start method 'spawn' or 'forkserver').");
        return -1;
    }
    if (!error_factory) { PyErr_SetString(PyExc_RuntimeError, "cpipe._native is not configured"); return -1; }
    cp_thread_uses_engine();  // before its first call into Go: a P for this thread (bridge_threads.c)
    return 0;
}

static int parse_handle(PyObject *o, uint64_t *h) {
    *h = PyLong_AsUnsignedLongLong(o);
    return (*h == (uint64_t)-1 && PyErr_Occurred()) ? -1 : 0;
}

// ---------------------------------------------------------------- entry points

// execute(handle, encoding, max_bulk, *command): one command; error replies
// raise. max_bulk is the client's proto_max_bulk_len.
static PyObject *py_execute(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h; Py_ssize_t max_bulk;
    if (nargs < 3) { PyErr_SetString(PyExc_TypeError, "execute(handle, encoding, max_bulk, *command)"); return NULL; }
    if (check_ready() < 0 || parse_handle(args[0], &h) < 0 || parse_max_bulk(args[2], &max_bulk) < 0) return NULL;
    PyObject *encoding = args[1];
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    if (enc_command(&e, args + 3, nargs - 3, &kind) < 0) { enc_free(&e); return NULL; }
    int blocking = kind.blocking; double block_for = kind.block_for;
    char *tape = NULL; int64_t tape_len = 0; char err[ERRCAP]; int status, wake = interruptible();
    Py_BEGIN_ALLOW_THREADS
    status = cp_exec(h, e.buf, e.len, 1, blocking, block_for, wake, &tape, &tape_len, err, ERRCAP);
    Py_END_ALLOW_THREADS
    enc_free(&e);
    if (status != CP_OK) { free(tape); return raise_status(status, err); }
    const char *p = tape;
    PyObject *r = build(&p, encoding);
    free(tape);
    if (r && PyExceptionInstance_Check(r)) {
        PyErr_SetObject((PyObject *)Py_TYPE(r), r);
        Py_DECREF(r);
        return NULL;
    }
    return r;
}

// The replies of a pipeline, one per command, in a list; a reply that is an
// error, or cannot be converted, is an exception instance in place (the
// same rule for the sync and the asynchronous paths).
static PyObject *build_replies(const char **pp, int64_t n, PyObject *encoding) {
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (int64_t i = 0; out && i < n; i++) {
        PyObject *item = build_or_error(pp, encoding);
        if (!item) Py_CLEAR(out); else PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    return out;
}

// execute_many(handle, encoding, max_bulk, commands): a pipeline in one
// round trip; commands is any iterable of argument tuples or lists.
static PyObject *py_execute_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h; Py_ssize_t max_bulk, n;
    if (nargs != 4) { PyErr_SetString(PyExc_TypeError, "execute_many(handle, encoding, max_bulk, commands)"); return NULL; }
    if (check_ready() < 0 || parse_handle(args[0], &h) < 0 || parse_max_bulk(args[2], &max_bulk) < 0) return NULL;
    PyObject *encoding = args[1];
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    if (enc_pipeline(&e, args[3], &n, &kind) < 0) { enc_free(&e); return NULL; }
    if (n == 0) { enc_free(&e); return PyList_New(0); }
    int blocking = kind.blocking; double block_for = kind.block_for;
    char *tape = NULL; int64_t tape_len = 0; char err[ERRCAP]; int status, wake = interruptible();
    Py_BEGIN_ALLOW_THREADS
    status = cp_exec(h, e.buf, e.len, n, blocking, block_for, wake, &tape, &tape_len, err, ERRCAP);
    Py_END_ALLOW_THREADS
    enc_free(&e);
    if (status != CP_OK) { free(tape); return raise_status(status, err); }
    const char *p = tape;
    PyObject *out = build_replies(&p, n, encoding);
    free(tape);
    return out;
}

// Queues an encoded request. wait=1: may connect or wait for room, with the
// GIL released. wait=0: never waits; returns CP_WOULDBLOCK instead.
static int submit_encoded(uint64_t h, uint64_t qh, enc_t *e, int64_t n, uint64_t tag, int batch,
                          int blocking, double block_for, int wait, char *err) {
    // Queueing is quick: keep the GIL unless the engine says it must wait.
    int status = cp_submit(h, qh, e->buf, e->len, n, tag, batch, blocking, block_for, 0, 0, err, ERRCAP);
    if (status == CP_WOULDBLOCK && wait) {
        int wake = interruptible();
        Py_BEGIN_ALLOW_THREADS
        status = cp_submit(h, qh, e->buf, e->len, n, tag, batch, blocking, block_for, 1, wake, err, ERRCAP);
        Py_END_ALLOW_THREADS
    }
    return status;
}

// A request encoded and classified but not queued, for a caller that must
// queue it later, from another thread (asyncio's backlog): bytes holding
//   [0] flags (SUBMIT_BLOCKING, PREPARED_BATCH)  [8] int64 n  [16] double block_for  [24] RESP
// so that it is encoded once, and sent exactly as it was classified.
#define PREPARED_BATCH 4
#define PREPARED_HEAD 24

static PyObject *prepared_new(const enc_t *e, int64_t n, int batch, const batch_kind_t *kind) {
    if (e->len > PY_SSIZE_T_MAX - PREPARED_HEAD) return PyErr_NoMemory();
    PyObject *r = PyBytes_FromStringAndSize(NULL, PREPARED_HEAD + e->len);
    if (!r) return NULL;
    char *p = PyBytes_AS_STRING(r);
    memset(p, 0, PREPARED_HEAD);
    p[0] = (char)((kind->blocking ? SUBMIT_BLOCKING : 0) | (batch ? PREPARED_BATCH : 0));
    memcpy(p + 8, &n, 8);
    memcpy(p + 16, &kind->block_for, 8);
    memcpy(p + PREPARED_HEAD, e->buf, e->len);
    return r;
}

// What submit and submit_many return: when queued, an int of bits
// (SUBMIT_QUEUED, plus SUBMIT_BLOCKING for a blocking request, which the
// caller may cancel); when wait was false and queueing would have had to
// wait, nothing is queued and it returns the prepared request instead
// (bytes; its first byte holds the SUBMIT_BLOCKING bit), for submit_prepared.
static PyObject *submit_result(int status, const enc_t *e, int64_t n, int batch, const batch_kind_t *kind,
                               const char *err) {
    if (status == CP_WOULDBLOCK) return prepared_new(e, n, batch, kind);
    if (status != CP_OK) return raise_status(status, err);
    return PyLong_FromLong(SUBMIT_QUEUED | (kind->blocking ? SUBMIT_BLOCKING : 0));
}

// The arguments submit and submit_many share.
static int parse_submit(PyObject *const *args, uint64_t *h, uint64_t *qh, uint64_t *tag, int *wait,
                        Py_ssize_t *max_bulk) {
    if (check_ready() < 0 || parse_handle(args[0], h) < 0 || parse_handle(args[1], qh) < 0 ||
        parse_handle(args[2], tag) < 0 || (*wait = PyObject_IsTrue(args[3])) < 0 ||
        parse_max_bulk(args[4], max_bulk) < 0) return -1;
    return 0;
}

// submit(handle, queue, tag, wait, max_bulk, *command) -> int or prepared
// (see submit_result): queue one command without waiting for its reply,
// which cp_poll on queue delivers tagged with tag.
static PyObject *py_submit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h, qh, tag; int wait; Py_ssize_t max_bulk;
    if (nargs < 5) { PyErr_SetString(PyExc_TypeError, "submit(handle, queue, tag, wait, max_bulk, *command)"); return NULL; }
    if (parse_submit(args, &h, &qh, &tag, &wait, &max_bulk) < 0) return NULL;
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    PyObject *r = NULL;
    if (enc_command(&e, args + 5, nargs - 5, &kind) == 0) {
        char err[ERRCAP];
        int status = submit_encoded(h, qh, &e, 1, tag, 0, kind.blocking, kind.block_for, wait, err);
        r = submit_result(status, &e, 1, 0, &kind, err);
    }
    enc_free(&e);
    return r;
}

// submit_many(handle, queue, tag, wait, max_bulk, commands) -> int or
// prepared: a pipeline; its replies arrive as one list.
static PyObject *py_submit_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h, qh, tag; int wait; Py_ssize_t max_bulk, n;
    if (nargs != 6) { PyErr_SetString(PyExc_TypeError, "submit_many(handle, queue, tag, wait, max_bulk, commands)"); return NULL; }
    if (parse_submit(args, &h, &qh, &tag, &wait, &max_bulk) < 0) return NULL;
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    PyObject *r = NULL;
    if (enc_pipeline(&e, args[5], &n, &kind) < 0) goto done;
    if (n == 0) { PyErr_SetString(cp_exc_data, "an empty pipeline cannot be submitted"); goto done; }
    {
        char err[ERRCAP];
        int status = submit_encoded(h, qh, &e, n, tag, 1, kind.blocking, kind.block_for, wait, err);
        r = submit_result(status, &e, n, 1, &kind, err);
    }
done:
    enc_free(&e);
    return r;
}

// prepare(max_bulk, commands, batch) -> prepared: encode and classify now,
// queue later with submit_prepared; batch false sends the one command in
// commands on its own. Raises the DataError submit would raise.
static PyObject *py_prepare(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t max_bulk, n;
    int batch;
    if (nargs != 3) { PyErr_SetString(PyExc_TypeError, "prepare(max_bulk, commands, batch)"); return NULL; }
    if (parse_max_bulk(args[0], &max_bulk) < 0 || (batch = PyObject_IsTrue(args[2])) < 0) return NULL;
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    PyObject *r = NULL;
    if (enc_pipeline(&e, args[1], &n, &kind) < 0) goto done;
    if (batch ? n == 0 : n != 1) {
        PyErr_SetString(cp_exc_data, batch ? "an empty pipeline cannot be submitted" : "prepare needs exactly one command");
        goto done;
    }
    r = prepared_new(&e, n, batch, &kind);
done:
    enc_free(&e);
    return r;
}

// submit_prepared(handle, queue, tag, prepared) -> int: queue a prepared
// request, waiting (GIL released) to connect or for room as needed.
static PyObject *py_submit_prepared(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h, qh, tag;
    if (nargs != 4) { PyErr_SetString(PyExc_TypeError, "submit_prepared(handle, queue, tag, prepared)"); return NULL; }
    if (check_ready() < 0 || parse_handle(args[0], &h) < 0 || parse_handle(args[1], &qh) < 0 ||
        parse_handle(args[2], &tag) < 0) return NULL;
    PyObject *prepared = args[3];
    if (!PyBytes_CheckExact(prepared) || PyBytes_GET_SIZE(prepared) < PREPARED_HEAD) {
        PyErr_SetString(PyExc_TypeError, "submit_prepared needs what submit or prepare returned");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(prepared);
    int64_t n; double block_for;
    memcpy(&n, p + 8, 8);
    memcpy(&block_for, p + 16, 8);
    batch_kind_t kind = {(p[0] & SUBMIT_BLOCKING) != 0, block_for};
    // The engine copies the data before it returns; prepared is immutable.
    enc_t e = {.buf = (char *)p + PREPARED_HEAD, .len = PyBytes_GET_SIZE(prepared) - PREPARED_HEAD};
    char err[ERRCAP];
    int status = submit_encoded(h, qh, &e, n, tag, (p[0] & PREPARED_BATCH) != 0, kind.blocking, kind.block_for, 1, err);
    if (status != CP_OK) return raise_status(status, err);
    return PyLong_FromLong(SUBMIT_QUEUED | (kind.blocking ? SUBMIT_BLOCKING : 0));
}


// poll(queue, encoding, timeout) -> list of (tag, value). value is the reply
// (an exception instance for an error reply or a failed connection); for a
// pipeline, the list of replies, errors in place. encoding may be a list of
// encodings, indexed by the low 4 bits of each tag, for a queue shared by
// clients that decode differently (a list: a tuple is one (codec, errors)).
static PyObject *py_poll(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t qh;
    if (nargs != 3) { PyErr_SetString(PyExc_TypeError, "poll(queue, encoding, timeout)"); return NULL; }
    if (check_ready() < 0 || parse_handle(args[0], &qh) < 0) return NULL;
    PyObject *encoding = args[1];
    double timeout = PyFloat_AsDouble(args[2]);
    if (timeout == -1 && PyErr_Occurred()) return NULL;
    char *tape = NULL; int64_t tape_len = 0, count;
    if (timeout > 0) {
        Py_BEGIN_ALLOW_THREADS
        count = cp_poll(qh, timeout, &tape, &tape_len);
        Py_END_ALLOW_THREADS
    } else {
        count = cp_poll(qh, 0, &tape, &tape_len);   // never waits: keep the GIL
    }
    PyObject *out = PyList_New(count);
    const char *p = tape;
    for (int64_t i = 0; out && i < count; i++) {
        int64_t tag = rd64(p + 1), status = rd64(p + 10), n = rd64(p + 19), batch = rd64(p + 28);
        p += 36;
        PyObject *value, *enc = encoding;
        if (PyList_Check(encoding)) {
            Py_ssize_t k = (Py_ssize_t)(tag & 15);
            enc = k < PyList_GET_SIZE(encoding) ? PyList_GET_ITEM(encoding, k) : Py_None;
        }
        if (status != CP_OK) {
            int64_t len = rd64(p + 1);
            value = status_error(status, p + 9, (Py_ssize_t)len);
            p += 9 + len;
        } else if (!batch) {
            value = build_or_error(&p, enc);
        } else {
            value = build_replies(&p, n, enc);
        }
        PyObject *pair = value ? Py_BuildValue("(KN)", (unsigned long long)tag, value) : NULL;
        if (!pair) { Py_CLEAR(out); break; }
        PyList_SET_ITEM(out, i, pair);
    }
    free(tape);
    return out;
}

static PyObject *py_outstanding(PyObject *self, PyObject *arg) {
    uint64_t qh;
    if (parse_handle(arg, &qh) < 0) return NULL;
    if (forked) return PyLong_FromLong(0);
    return PyLong_FromLongLong(cp_outstanding(qh));
}

// cancel(handle, queue, tag) -> bool: abandon a submitted blocking command.
static PyObject *py_cancel(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h, qh, tag;
    if (nargs != 3) { PyErr_SetString(PyExc_TypeError, "cancel(handle, queue, tag)"); return NULL; }
    if (parse_handle(args[0], &h) < 0 || parse_handle(args[1], &qh) < 0 || parse_handle(args[2], &tag) < 0) return NULL;
    if (forked) Py_RETURN_FALSE;
    int found;
    Py_BEGIN_ALLOW_THREADS
    found = cp_cancel(h, qh, tag);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(found);
}

static PyObject *py_queue_open(PyObject *self, PyObject *arg) {
    if (check_ready() < 0) return NULL;
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) return NULL;
    return PyLong_FromUnsignedLongLong(cp_queue_open((int)fd));
}

static PyObject *py_queue_close(PyObject *self, PyObject *arg) {
    uint64_t qh;
    if (parse_handle(arg, &qh) < 0) return NULL;
    if (!forked) cp_queue_close(qh);
    Py_RETURN_NONE;
}

// ---------------------------------------------------------------- open

// open(config) reads a cpipe._config.EngineConfig by attribute name, so
// the one description of a client's options is that dataclass; a missing
// attribute or a wrong type is a TypeError naming it, a value out of range
// a ValueError. Never the config's repr in a message: init_commands may
// hold a password.

// config.<name>, a new reference, or NULL with a TypeError naming it.
static PyObject *config_attr(PyObject *config, const char *name) {
    PyObject *v = PyObject_GetAttrString(config, name);
    if (!v && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "open(config): the %.100s has no attribute '%s' (pass a cpipe._config.EngineConfig)",
                     Py_TYPE(config)->tp_name, name);
    }
    return v;
}

static int config_wrong_type(PyObject *v, const char *name, const char *want) {
    PyErr_Format(PyExc_TypeError, "open(config): config.%s must be %s, not %.100s", name, want, Py_TYPE(v)->tp_name);
    return -1;
}

// An int (not a bool) in lo..hi.
static int config_int(PyObject *config, const char *name, long long lo, long long hi, long long *out) {
    PyObject *v = config_attr(config, name);
    if (!v) return -1;
    int rc = -1, overflow = 0;
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        config_wrong_type(v, name, "an int");
    } else {
        *out = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || *out < lo || *out > hi)
            PyErr_Format(PyExc_ValueError, "open(config): config.%s must be in %lld..%lld, not %R", name, lo, hi, v);
        else
            rc = 0;
    }
    Py_DECREF(v);
    return rc;
}

// Seconds: an int or float, finite, 0 (no limit) up to what a Go duration holds.
static int config_seconds(PyObject *config, const char *name, double *out) {
    PyObject *v = config_attr(config, name);
    if (!v) return -1;
    int rc = -1;
    if (!(PyFloat_Check(v) || (PyLong_Check(v) && !PyBool_Check(v)))) {
        config_wrong_type(v, name, "a number of seconds (int or float)");
    } else {
        double d = PyFloat_AsDouble(v);
        if (d == -1 && PyErr_Occurred()) PyErr_Clear();   // an int too large for a double: out of range
        if (d >= 0 && d <= CP_MAX_SECONDS) {              // NaN fails both comparisons
            *out = d;
            rc = 0;
        } else {
            PyErr_Format(PyExc_ValueError, "open(config): config.%s must be 0 (no limit) or a finite number of "
                         "seconds up to %lld, not %R", name, (long long)CP_MAX_SECONDS, v);
        }
    }
    Py_DECREF(v);
    return rc;
}

static int config_bool(PyObject *config, const char *name, int *out) {
    PyObject *v = config_attr(config, name);
    if (!v) return -1;
    int rc = PyBool_Check(v) ? 0 : config_wrong_type(v, name, "a bool");
    *out = v == Py_True;
    Py_DECREF(v);
    return rc;
}

// A str (or None when may_be_none): *keep holds the attribute, whose UTF-8
// buffer *p points into, until the caller drops it.
static int config_text(PyObject *config, const char *name, int may_be_none, PyObject **keep,
                       const char **p, int64_t *len) {
    *keep = config_attr(config, name);
    if (!*keep) return -1;
    *p = NULL; *len = 0;
    if (may_be_none && *keep == Py_None) return 0;
    if (!PyUnicode_Check(*keep)) return config_wrong_type(*keep, name, may_be_none ? "a str or None" : "a str");
    Py_ssize_t n;
    *p = PyUnicode_AsUTF8AndSize(*keep, &n);
    *len = n;
    return *p ? 0 : -1;
}

// open(config) -> handle. Does not connect yet: the first command does.
static PyObject *py_open(PyObject *self, PyObject *config) {
    if (check_ready() < 0) return NULL;
    struct cp_options o = {0};
    PyObject *host = NULL, *unix_path = NULL, *init = NULL, *tls = NULL, *r = NULL;
    long long port, size, max_queued, protocol, resolver;
    enc_t e; enc_init(&e, CP_DEFAULT_MAX_BULK);
    if (config_text(config, "host", 0, &host, &o.host, &o.host_len) < 0 ||
        config_int(config, "port", 1, 65535, &port) < 0 ||
        config_text(config, "unix_socket_path", 1, &unix_path, &o.unix_path, &o.unix_len) < 0 ||
        config_seconds(config, "connect_timeout", &o.connect_timeout) < 0 ||
        config_seconds(config, "socket_timeout", &o.socket_timeout) < 0 ||
        !(init = config_attr(config, "init_commands")) ||
        config_int(config, "size", 1, CP_MAX_SIZE, &size) < 0 ||
        config_bool(config, "autopipeline", &o.autopipeline) < 0 ||
        config_int(config, "max_queued", 0, CP_MAX_QUEUED, &max_queued) < 0 ||
        config_bool(config, "connect_once", &o.connect_once) < 0 ||
        config_int(config, "protocol", 2, 3, &protocol) < 0 ||
        config_int(config, "resolver", 0, INT64_MAX, &resolver) < 0 ||
        config_text(config, "tls", 1, &tls, &o.tls, &o.tls_len) < 0) goto done;
    if (!PyTuple_Check(init) && !PyList_Check(init)) {
        config_wrong_type(init, "init_commands", "a tuple of command tuples");
        goto done;
    }
    // The client's own commands (AUTH, SELECT, ...): not classified, never refused.
    Py_ssize_t n;
    if (enc_pipeline(&e, init, &n, NULL) < 0) goto done;
    o.port = (int)port;
    o.size = (int)size;
    o.max_queued = max_queued;
    o.protocol = (int)protocol;
    o.resolver = (uint64_t)resolver;
    o.init = e.buf;
    o.init_len = e.len;
    o.ninit = (int)n;
    r = PyLong_FromUnsignedLongLong(cp_open(&o));
done:
    enc_free(&e);
    Py_XDECREF(host);
    Py_XDECREF(unix_path);
    Py_XDECREF(init);
    Py_XDECREF(tls);
    return r;
}

// protocol(handle) -> 3, 2, or 0 before the first connect (see cp_protocol).
static PyObject *py_protocol(PyObject *self, PyObject *arg) {
    uint64_t h;
    if (parse_handle(arg, &h) < 0) return NULL;
    if (forked) return PyLong_FromLong(0);
    return PyLong_FromLong(cp_protocol(h));
}

static PyObject *py_close(PyObject *self, PyObject *arg) {
    uint64_t h;
    if (parse_handle(arg, &h) < 0) return NULL;
    if (forked) Py_RETURN_NONE;   // the parent's connections are not ours to touch
    Py_BEGIN_ALLOW_THREADS
    cp_close(h);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// encode(*commands) -> bytes: the RESP the engine would send (for tests and tools).
static PyObject *py_encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    enc_t e; enc_init(&e, CP_DEFAULT_MAX_BULK);
    batch_kind_t kind = {0, -1};
    if (enc_command(&e, args, nargs, &kind) < 0) { enc_free(&e); return NULL; }
    PyObject *r = PyBytes_FromStringAndSize(e.buf, e.len);
    enc_free(&e);
    return r;
}

static PyObject *py_configure(PyObject *self, PyObject *args) {
    PyObject *f, *c, *t, *a, *p, *d, *k;
    if (!PyArg_ParseTuple(args, "OOOOOOO", &f, &c, &t, &a, &p, &d, &k)) return NULL;
    Py_XSETREF(error_factory, Py_NewRef(f));
    Py_XSETREF(exc_connection, Py_NewRef(c));
    Py_XSETREF(exc_timeout, Py_NewRef(t));
    Py_XSETREF(exc_auth, Py_NewRef(a));
    Py_XSETREF(exc_protocol, Py_NewRef(p));
    Py_XSETREF(cp_exc_data, Py_NewRef(d));
    Py_XSETREF(exc_fork, Py_NewRef(k));
    Py_RETURN_NONE;
}

static PyObject *py_mark_forked(PyObject *self, PyObject *unused) { forked = 1; Py_RETURN_NONE; }

// For bridge_pubsub.c (declared in bridge_pubsub.h).
PyObject *cp_bridge_build(const char **pp, PyObject *encoding) { return build_or_error(pp, encoding); }
PyObject *cp_bridge_raise(int status, const char *msg) { return raise_status(status, msg); }
int cp_bridge_ready(void) { return check_ready(); }
int cp_bridge_handle(PyObject *o, uint64_t *h) { return parse_handle(o, h); }
int cp_bridge_main_thread(void) { return interruptible(); }

// For bridge_stage.c.
int cp_bridge_submit_encoded(uint64_t h, uint64_t qh, enc_t *e, int64_t n, uint64_t tag, int batch,
                             int blocking, double block_for, int wait, char *err) {
    return submit_encoded(h, qh, e, n, tag, batch, blocking, block_for, wait, err);
}
PyObject *cp_bridge_submit_result(int status, const enc_t *e, int64_t n, int batch, const batch_kind_t *kind,
                                  const char *err) {
    return submit_result(status, e, n, batch, kind, err);
}
_Static_assert(CP_BRIDGE_ERRCAP == ERRCAP, "bridge_stage.h's error buffer size is bridge.c's");

// For bridge_cache.c, which must not call Go in a forked child either.
int cp_bridge_forked(void) { return forked; }

PyObject *cp_py_tracking_state(PyObject *module, PyObject *args);  // bridge_cache.c

static PyMethodDef methods[] = {
    {"execute", (PyCFunction)(void (*)(void))py_execute, METH_FASTCALL, "execute(handle, encoding, max_bulk, *command)"},
    {"execute_many", (PyCFunction)(void (*)(void))py_execute_many, METH_FASTCALL, "execute_many(handle, encoding, max_bulk, commands)"},
    {"submit", (PyCFunction)(void (*)(void))py_submit, METH_FASTCALL, "submit(handle, queue, tag, wait, max_bulk, *command) -> QUEUED|BLOCKING bits, or a prepared request"},
    {"submit_many", (PyCFunction)(void (*)(void))py_submit_many, METH_FASTCALL, "submit_many(handle, queue, tag, wait, max_bulk, commands) -> QUEUED|BLOCKING bits, or a prepared request"},
    {"prepare", (PyCFunction)(void (*)(void))py_prepare, METH_FASTCALL, "prepare(max_bulk, commands, batch) -> prepared request"},
    {"submit_prepared", (PyCFunction)(void (*)(void))py_submit_prepared, METH_FASTCALL, "submit_prepared(handle, queue, tag, prepared) -> QUEUED|BLOCKING bits"},
    {"poll", (PyCFunction)(void (*)(void))py_poll, METH_FASTCALL, "poll(queue, encoding, timeout) -> [(tag, value)]"},
    {"outstanding", py_outstanding, METH_O, "outstanding(queue)"},
    {"queue_open", py_queue_open, METH_O, "queue_open(notify_fd or -1) -> queue"},
    {"cancel", (PyCFunction)(void (*)(void))py_cancel, METH_FASTCALL, "cancel(handle, queue, tag) -> found"},
    {"queue_close", py_queue_close, METH_O, "queue_close(queue)"},
    {"open", py_open, METH_O, "open(config: cpipe._config.EngineConfig) -> handle"},
    {"close", py_close, METH_O, "close(handle)"},
    {"protocol", py_protocol, METH_O, "protocol(handle) -> RESP version spoken (0: not connected yet)"},
    {"encode", (PyCFunction)(void (*)(void))py_encode, METH_FASTCALL, "encode(*command) -> RESP bytes"},
    {"configure", py_configure, METH_VARARGS, "configure(error_factory, ConnectionError, TimeoutError, AuthenticationError, ProtocolError, DataError, ForkError)"},
    {"mark_forked", py_mark_forked, METH_NOARGS, "called in a forked child"},
    CP_PUBSUB_METHODS
    CP_SENTINEL_METHODS
    CP_CLUSTER_METHODS
    CP_STAGE_METHODS
    CP_THREADS_METHODS
    CP_FUTURE_METHODS
    CP_BULK_METHODS
    CP_BATCH_METHODS
    CP_HOT_METHODS
    {"tracking_state", cp_py_tracking_state, METH_VARARGS, "tracking_state(max_keys, max_bytes) -> TrackingState (client-side caching)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "cpipe's Go engine", -1, methods};

PyMODINIT_FUNC PyInit__native(void) {
    // Signal handlers run in the main thread, whichever thread imports us.
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *main = threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
    PyObject *ident = main ? PyObject_GetAttrString(main, "ident") : NULL;
    Py_XDECREF(threading); Py_XDECREF(main);
    if (!ident) return NULL;
    main_thread = PyLong_AsUnsignedLong(ident);
    Py_DECREF(ident);
    if (PyErr_Occurred()) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "CP_CLOSED", CP_CLOSED) < 0 ||
              PyModule_AddIntConstant(m, "QUEUED", SUBMIT_QUEUED) < 0 ||
              PyModule_AddIntConstant(m, "BLOCKING", SUBMIT_BLOCKING) < 0 ||
              PyModule_AddIntConstant(m, "DEFAULT_MAX_BULK", CP_DEFAULT_MAX_BULK) < 0 ||
              cp_batch_add_type(m) < 0 ||
              cp_stage_add_types(m) < 0)) Py_CLEAR(m);
    return m;
}
