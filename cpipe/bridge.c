// bridge.c: the only code that touches PyObject.
//
// Python calls in with command arguments; this file encodes them to RESP in
// one contiguous C buffer, releases the GIL, calls the Go engine once per
// batch, and builds Python objects by walking the engine's reply tape once
// (grammar in engine/tape.go). Exceptions are raised in one place,
// raise_status(); the exception classes and the error-reply factory are
// handed in from Python by configure(), so names match redis-py.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "_cgo_export.h"

// ---------------------------------------------------------------- state

static PyObject *error_factory;   // callable(str) -> ResponseError instance
static PyObject *exc_connection, *exc_timeout, *exc_auth, *exc_protocol, *exc_data, *exc_fork;
static int forked;                // set in a forked child: Go must not run there
static unsigned long main_thread; // the thread that runs Python's signal handlers

#define ERRCAP 512

// ---------------------------------------------------------------- encoder

// A growable buffer that starts on the stack, so a typical command costs no
// allocation.
typedef struct {
    char *buf;
    Py_ssize_t len, cap;
    char small[1024];
} enc_t;

static void enc_init(enc_t *e) { e->buf = e->small; e->len = 0; e->cap = sizeof e->small; }
static void enc_free(enc_t *e) { if (e->buf != e->small) PyMem_RawFree(e->buf); }

static int enc_grow(enc_t *e, Py_ssize_t need) {
    Py_ssize_t cap = e->cap * 2;
    while (cap < e->len + need) cap *= 2;
    char *nb;
    if (e->buf == e->small) {
        nb = PyMem_RawMalloc(cap);
        if (nb) memcpy(nb, e->buf, e->len);
    } else {
        nb = PyMem_RawRealloc(e->buf, cap);
    }
    if (!nb) { PyErr_NoMemory(); return -1; }
    e->buf = nb; e->cap = cap;
    return 0;
}

static inline int enc_reserve(enc_t *e, Py_ssize_t n) {
    return (e->cap - e->len >= n) ? 0 : enc_grow(e, n);
}

// Writes c, then the decimal of v, then CRLF.
static inline void enc_header(enc_t *e, char c, long long v) {
    char tmp[24];
    int i = 0;
    unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
    do { tmp[i++] = (char)('0' + u % 10); u /= 10; } while (u);
    char *p = e->buf + e->len;
    *p++ = c;
    if (v < 0) *p++ = '-';
    while (i) *p++ = tmp[--i];
    *p++ = '\r'; *p++ = '\n';
    e->len = p - e->buf;
}

static int enc_bulk(enc_t *e, const char *s, Py_ssize_t n) {
    if (enc_reserve(e, n + 32) < 0) return -1;
    enc_header(e, '$', n);
    memcpy(e->buf + e->len, s, n);
    e->len += n;
    e->buf[e->len++] = '\r';
    e->buf[e->len++] = '\n';
    return 0;
}

static int enc_int(enc_t *e, long long v) {
    char tmp[24];
    int i = 0;
    unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
    do { tmp[i++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) tmp[i++] = '-';
    char out[24];
    for (int j = 0; j < i; j++) out[j] = tmp[i - 1 - j];
    return enc_bulk(e, out, i);
}

static void data_error(PyObject *arg, Py_ssize_t pos, PyObject *cmd, const char *why) {
    PyObject *name = NULL;
    if (cmd && PyUnicode_Check(cmd)) name = Py_NewRef(cmd);
    else if (cmd && PyBytes_Check(cmd)) name = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(cmd), PyBytes_GET_SIZE(cmd), "replace");
    if (!name) { PyErr_Clear(); name = PyUnicode_FromString("?"); }
    PyErr_Format(exc_data,
                 "Invalid input of type: '%s' at argument %zd of command %R%s. "
                 "Convert to a bytes, string, int or float first.",
                 Py_TYPE(arg)->tp_name, pos, name, why);
    Py_DECREF(name);
}

// Rare argument types, kept out of the fast path.
static int enc_arg_slow(enc_t *e, PyObject *a, Py_ssize_t pos, PyObject *cmd) {
    if (PyBool_Check(a)) { data_error(a, pos, cmd, ""); return -1; }
    if (PyByteArray_Check(a)) return enc_bulk(e, PyByteArray_AS_STRING(a), PyByteArray_GET_SIZE(a));
    if (PyUnicode_Check(a)) {  // str subclass
        Py_ssize_t n; const char *s = PyUnicode_AsUTF8AndSize(a, &n);
        if (!s) { PyErr_Clear(); data_error(a, pos, cmd, " (not encodable as UTF-8)"); return -1; }
        return enc_bulk(e, s, n);
    }
    if (PyLong_Check(a) || PyFloat_Check(a)) {  // int/float subclasses, or ints past 64 bits
        PyObject *r = PyLong_Check(a) ? PyObject_Str(a) : PyObject_Repr(a);
        if (!r) return -1;
        Py_ssize_t n; const char *s = PyUnicode_AsUTF8AndSize(r, &n);
        int rc = s ? enc_bulk(e, s, n) : -1;
        Py_DECREF(r);
        return rc;
    }
    if (PyObject_CheckBuffer(a)) {  // bytes subclasses, memoryview, array.array, ...
        Py_buffer view;
        if (PyObject_GetBuffer(a, &view, PyBUF_SIMPLE) < 0) {
            PyErr_Clear(); data_error(a, pos, cmd, " (not a contiguous buffer)"); return -1;
        }
        int rc = enc_bulk(e, view.buf, view.len);
        PyBuffer_Release(&view);
        return rc;
    }
    data_error(a, pos, cmd, "");
    return -1;
}

static inline int enc_arg(enc_t *e, PyObject *a, Py_ssize_t pos, PyObject *cmd) {
    if (PyBytes_CheckExact(a)) return enc_bulk(e, PyBytes_AS_STRING(a), PyBytes_GET_SIZE(a));
    if (PyUnicode_CheckExact(a)) {
        Py_ssize_t n; const char *s = PyUnicode_AsUTF8AndSize(a, &n);
        if (!s) { PyErr_Clear(); data_error(a, pos, cmd, " (not encodable as UTF-8)"); return -1; }
        return enc_bulk(e, s, n);
    }
    if (PyLong_CheckExact(a)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(a, &overflow);
        if (!overflow) return enc_int(e, v);
    }
    if (PyFloat_CheckExact(a)) {
        // repr() is what redis-py sends: the shortest string that round-trips.
        char *s = PyOS_double_to_string(PyFloat_AS_DOUBLE(a), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!s) return -1;
        int rc = enc_bulk(e, s, (Py_ssize_t)strlen(s));
        PyMem_Free(s);
        return rc;
    }
    return enc_arg_slow(e, a, pos, cmd);
}

static int enc_command(enc_t *e, PyObject *const *args, Py_ssize_t n) {
    if (n == 0) { PyErr_SetString(exc_data, "a command needs at least its name"); return -1; }
    if (enc_reserve(e, 24) < 0) return -1;
    enc_header(e, '*', n);
    for (Py_ssize_t i = 0; i < n; i++)
        if (enc_arg(e, args[i], i, args[0]) < 0) return -1;
    return 0;
}

// The arguments of one pipeline entry, a tuple or a list; 0 if it is neither.
static int command_items(PyObject *cmd, PyObject *const **items, Py_ssize_t *len) {
    if (PyTuple_CheckExact(cmd)) { *items = &PyTuple_GET_ITEM(cmd, 0); *len = PyTuple_GET_SIZE(cmd); return 1; }
    if (PyList_CheckExact(cmd)) { *items = ((PyListObject *)cmd)->ob_item; *len = PyList_GET_SIZE(cmd); return 1; }
    return 0;
}

// Encodes one pipeline entry: a tuple or list of arguments.
static int enc_sequence(enc_t *e, PyObject *cmd, Py_ssize_t index) {
    PyObject *const *items; Py_ssize_t len;
    if (command_items(cmd, &items, &len)) return enc_command(e, items, len);
    PyErr_Format(exc_data, "pipeline command %zd is a %s, expected a tuple of arguments",
                 index, Py_TYPE(cmd)->tp_name);
    return -1;
}

static int blocking_command(PyObject *const *args, Py_ssize_t n, double *block_for);

// Whether a pipeline holds a blocking command; *block_for is the longest
// wait among them (-1: one may wait forever).
static int blocking_pipeline(PyObject *commands, double *block_for) {
    PyObject *seq = PySequence_Fast(commands, "commands must be a sequence of tuples");
    if (!seq) { PyErr_Clear(); return 0; }
    int any = 0;
    *block_for = 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *cmd = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *const *items; Py_ssize_t len;
        if (!command_items(cmd, &items, &len)) continue;
        double b;
        if (len > 0 && blocking_command(items, len, &b)) {
            if (!any) *block_for = b;
            else if (*block_for >= 0 && (b < 0 || b > *block_for)) *block_for = b;  // -1 (forever) wins
            any = 1;
        }
    }
    Py_DECREF(seq);
    return any;
}

// Encodes a sequence of argument tuples; on a bad argument nothing is kept
// and the error names the command's index in the pipeline.
static int enc_pipeline(enc_t *e, PyObject *commands, Py_ssize_t *count) {
    PyObject *seq = PySequence_Fast(commands, "commands must be a sequence of tuples");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (enc_sequence(e, items[i], i) < 0) {
            Py_DECREF(seq);
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
            PyErr_Format(type, "pipeline command %zd: %S (nothing was sent)", i, value);
            Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
            return -1;
        }
    }
    Py_DECREF(seq);
    *count = n;
    return 0;
}

// ---------------------------------------------------------------- blocking commands

// Blocking commands must not share a coalesced connection; the engine also
// stretches their read timeout by the command's own timeout argument.
static int arg_is(PyObject *a, const char *name) {
    const char *s; Py_ssize_t n;
    if (PyUnicode_CheckExact(a)) { s = PyUnicode_AsUTF8AndSize(a, &n); if (!s) { PyErr_Clear(); return 0; } }
    else if (PyBytes_CheckExact(a)) { s = PyBytes_AS_STRING(a); n = PyBytes_GET_SIZE(a); }
    else return 0;
    return (size_t)n == strlen(name) && strncasecmp(s, name, n) == 0;
}

static double arg_seconds(PyObject *a) {
    double v = -1;
    if (PyLong_Check(a) || PyFloat_Check(a)) v = PyFloat_AsDouble(a);
    else if (PyBytes_Check(a)) v = atof(PyBytes_AS_STRING(a));
    else if (PyUnicode_Check(a)) { const char *s = PyUnicode_AsUTF8(a); v = s ? atof(s) : -1; }
    if (PyErr_Occurred()) { PyErr_Clear(); v = -1; }
    return v <= 0 ? -1 : v;   // 0 means "block forever"
}

// Returns 1 for a blocking command and sets *block_for (seconds, -1 forever).
static int blocking_command(PyObject *const *args, Py_ssize_t n, double *block_for) {
    PyObject *a = args[0];
    const char *s; Py_ssize_t len;
    if (PyUnicode_CheckExact(a)) { s = PyUnicode_AsUTF8AndSize(a, &len); if (!s) { PyErr_Clear(); return 0; } }
    else if (PyBytes_CheckExact(a)) { s = PyBytes_AS_STRING(a); len = PyBytes_GET_SIZE(a); }
    else return 0;
    if (len < 4 || (s[0] != 'B' && s[0] != 'b' && s[0] != 'X' && s[0] != 'x' && s[0] != 'W' && s[0] != 'w')) return 0;
    static const char *last_arg_timeout[] = {"BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BZPOPMIN", "BZPOPMAX", NULL};
    for (int i = 0; last_arg_timeout[i]; i++)
        if (arg_is(a, last_arg_timeout[i])) { *block_for = n > 1 ? arg_seconds(args[n - 1]) : -1; return 1; }
    if (arg_is(a, "BLMPOP") || arg_is(a, "BZMPOP")) { *block_for = n > 1 ? arg_seconds(args[1]) : -1; return 1; }
    if (arg_is(a, "WAIT")) { *block_for = n > 2 ? arg_seconds(args[2]) / 1000.0 : -1; if (*block_for == 0) *block_for = -1; return 1; }
    if (arg_is(a, "XREAD") || arg_is(a, "XREADGROUP")) {
        for (Py_ssize_t i = 1; i + 1 < n; i++)
            if (arg_is(args[i], "BLOCK")) { double ms = arg_seconds(args[i + 1]); *block_for = ms < 0 ? -1 : ms / 1000.0; return 1; }
    }
    return 0;
}

// ---------------------------------------------------------------- replies

static int64_t rd64(const char *p) { int64_t v; memcpy(&v, p, 8); return v; }

static PyObject *make_str(const char *p, Py_ssize_t n, PyObject *encoding) {
    if (encoding == Py_None) return PyBytes_FromStringAndSize(p, n);
    return PyUnicode_Decode(p, n, PyUnicode_AsUTF8(encoding), "strict");
}

static PyObject *make_error(const char *p, Py_ssize_t n) {
    PyObject *msg = PyUnicode_DecodeUTF8(p, n, "replace");
    if (!msg) return NULL;
    PyObject *exc = PyObject_CallOneArg(error_factory, msg);
    Py_DECREF(msg);
    return exc;
}

// Returns the address just past the entry at p.
static const char *tape_skip(const char *p) {
    char kind = *p++;
    if (kind == '_') return p;
    int64_t v = rd64(p);
    p += 8;
    switch (kind) {
    case ':': return p;
    case '*':
        for (int64_t i = 0; i < v; i++) p = tape_skip(p);
        return p;
    default: return p + v;
    }
}

static PyObject *build(const char **pp, PyObject *encoding);

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
    PyErr_Format(PyExc_SystemError, "cpipe: corrupt reply tape (kind %d)", kind);
    return NULL;
}

// ---------------------------------------------------------------- signals

// Whether the calling thread runs Python's signal handlers: only there can
// a wait in the engine be cut short by Ctrl-C (engine/interrupt.go).
static inline int interruptible(void) { return PyThread_get_thread_ident() == main_thread; }

// Called by the engine, in the thread that called cp_exec/cp_submit with
// interruptible set, with the GIL released and no engine lock held: runs
// pending signal handlers. A handler's exception (KeyboardInterrupt) stays
// set in this thread's state for the entry point to return.
int cp_bridge_interrupted(void) {
    PyGILState_STATE s = PyGILState_Ensure();
    int raised = PyErr_CheckSignals() < 0;
    PyGILState_Release(s);
    return raised;
}

// ---------------------------------------------------------------- errors

static PyObject *raise_status(int status, const char *msg) {
    PyObject *type;
    if (status == CP_INTERRUPTED && PyErr_Occurred()) return NULL;  // the signal handler's exception
    if (status == CP_INIT) {  // an init command's error reply: named as redis-py names it
        PyObject *exc = make_error(msg, (Py_ssize_t)strlen(msg));
        if (exc) { PyErr_SetObject((PyObject *)Py_TYPE(exc), exc); Py_DECREF(exc); }
        return NULL;
    }
    switch (status) {
    case CP_TIMEOUT: type = exc_timeout; break;
    case CP_PROTOCOL: type = exc_protocol; break;
    case CP_AUTH: type = exc_auth; break;
    default: type = exc_connection; break;
    }
    PyErr_SetString(type, msg);
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
    return 0;
}

static int parse_handle(PyObject *o, uint64_t *h) {
    *h = PyLong_AsUnsignedLongLong(o);
    return (*h == (uint64_t)-1 && PyErr_Occurred()) ? -1 : 0;
}

// ---------------------------------------------------------------- entry points

// execute(handle, encoding, *args): one command; error replies raise.
static PyObject *py_execute(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h;
    if (nargs < 2) { PyErr_SetString(PyExc_TypeError, "execute(handle, encoding, *command)"); return NULL; }
    if (check_ready() < 0 || parse_handle(args[0], &h) < 0) return NULL;
    PyObject *encoding = args[1];
    enc_t e; enc_init(&e);
    if (enc_command(&e, args + 2, nargs - 2) < 0) { enc_free(&e); return NULL; }
    double block_for = -1;
    int blocking = blocking_command(args + 2, nargs - 2, &block_for);
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

// execute_many(handle, encoding, commands): a pipeline in one round trip.
// Returns the list of replies, error replies in place as exception objects.
static PyObject *py_execute_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h;
    if (nargs != 3) { PyErr_SetString(PyExc_TypeError, "execute_many(handle, encoding, commands)"); return NULL; }
    if (check_ready() < 0 || parse_handle(args[0], &h) < 0) return NULL;
    PyObject *encoding = args[1];
    enc_t e; enc_init(&e);
    Py_ssize_t n;
    if (enc_pipeline(&e, args[2], &n) < 0) { enc_free(&e); return NULL; }
    if (n == 0) { enc_free(&e); return PyList_New(0); }
    double block_for = -1;
    int blocking = blocking_pipeline(args[2], &block_for);
    char *tape = NULL; int64_t tape_len = 0; char err[ERRCAP]; int status, wake = interruptible();
    Py_BEGIN_ALLOW_THREADS
    status = cp_exec(h, e.buf, e.len, n, blocking, block_for, wake, &tape, &tape_len, err, ERRCAP);
    Py_END_ALLOW_THREADS
    enc_free(&e);
    if (status != CP_OK) { free(tape); return raise_status(status, err); }
    PyObject *out = PyList_New(n);
    if (out) {
        const char *p = tape;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = build(&p, encoding);
            if (!item) { Py_CLEAR(out); break; }
            PyList_SET_ITEM(out, i, item);
        }
    }
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

// submit(handle, queue, tag, wait, *args) -> bool: queue one command without
// waiting for its reply, which cp_poll on queue delivers tagged with tag.
// Returns False (nothing queued) only when wait is false and it would block.
static PyObject *py_submit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h, qh, tag;
    if (nargs < 4) { PyErr_SetString(PyExc_TypeError, "submit(handle, queue, tag, wait, *command)"); return NULL; }
    if (check_ready() < 0 || parse_handle(args[0], &h) < 0 || parse_handle(args[1], &qh) < 0 ||
        parse_handle(args[2], &tag) < 0) return NULL;
    int wait = PyObject_IsTrue(args[3]);
    enc_t e; enc_init(&e);
    if (enc_command(&e, args + 4, nargs - 4) < 0) { enc_free(&e); return NULL; }
    double block_for = -1;
    int blocking = blocking_command(args + 4, nargs - 4, &block_for);
    char err[ERRCAP];
    int status = submit_encoded(h, qh, &e, 1, tag, 0, blocking, block_for, wait, err);
    enc_free(&e);
    if (status == CP_WOULDBLOCK) Py_RETURN_FALSE;
    if (status != CP_OK) return raise_status(status, err);
    Py_RETURN_TRUE;
}


// submit_many(handle, queue, tag, wait, commands) -> bool: a pipeline; its
// replies arrive as one list.
static PyObject *py_submit_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h, qh, tag;
    if (nargs != 5) { PyErr_SetString(PyExc_TypeError, "submit_many(handle, queue, tag, wait, commands)"); return NULL; }
    if (check_ready() < 0 || parse_handle(args[0], &h) < 0 || parse_handle(args[1], &qh) < 0 ||
        parse_handle(args[2], &tag) < 0) return NULL;
    int wait = PyObject_IsTrue(args[3]);
    enc_t e; enc_init(&e);
    Py_ssize_t n;
    if (enc_pipeline(&e, args[4], &n) < 0) { enc_free(&e); return NULL; }
    if (n == 0) { enc_free(&e); PyErr_SetString(exc_data, "an empty pipeline cannot be submitted"); return NULL; }
    double block_for = -1;
    int blocking = blocking_pipeline(args[4], &block_for);
    char err[ERRCAP];
    int status = submit_encoded(h, qh, &e, n, tag, 1, blocking, block_for, wait, err);
    enc_free(&e);
    if (status == CP_WOULDBLOCK) Py_RETURN_FALSE;
    if (status != CP_OK) return raise_status(status, err);
    Py_RETURN_TRUE;
}

static PyObject *exc_for_status(int64_t status) {
    return status == CP_TIMEOUT ? exc_timeout : status == CP_PROTOCOL ? exc_protocol
         : status == CP_AUTH ? exc_auth : exc_connection;
}

// The exception instance for a failed asynchronous completion.
static PyObject *completion_error(int64_t status, const char *p, Py_ssize_t len) {
    if (status == CP_INIT) return make_error(p, len);
    PyObject *msg = PyUnicode_DecodeUTF8(p, len, "replace");
    PyObject *value = msg ? PyObject_CallOneArg(exc_for_status(status), msg) : NULL;
    Py_XDECREF(msg);
    return value;
}

// poll(queue, encoding, timeout) -> list of (tag, value). value is the reply
// (an exception instance for an error reply or a failed connection); for a
// pipeline, the list of replies, errors in place. encoding may be a tuple of
// encodings, indexed by the low 4 bits of each tag, for a queue shared by
// clients that decode differently.
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
        if (PyTuple_Check(encoding)) {
            Py_ssize_t k = (Py_ssize_t)(tag & 15);
            enc = k < PyTuple_GET_SIZE(encoding) ? PyTuple_GET_ITEM(encoding, k) : Py_None;
        }
        if (status != CP_OK) {
            int64_t len = rd64(p + 1);
            value = completion_error(status, p + 9, (Py_ssize_t)len);
            p += 9 + len;
        } else if (!batch) {
            value = build_or_error(&p, enc);
        } else {
            value = PyList_New(n);
            for (int64_t j = 0; value && j < n; j++) {
                PyObject *item = build_or_error(&p, enc);
                if (!item) Py_CLEAR(value); else PyList_SET_ITEM(value, j, item);
            }
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

// open(host, port, unix_path, connect_timeout, socket_timeout, init_commands,
//      size, autopipeline, max_queued) -> handle. Does not connect yet.
static PyObject *py_open(PyObject *self, PyObject *args) {
    const char *host, *unix_path; Py_ssize_t host_len, unix_len;
    int port, size, autopipeline; double ct, st; long long max_queued; PyObject *init;
    if (!PyArg_ParseTuple(args, "s#iz#ddOipL", &host, &host_len, &port, &unix_path, &unix_len,
                          &ct, &st, &init, &size, &autopipeline, &max_queued)) return NULL;
    if (check_ready() < 0) return NULL;
    PyObject *seq = PySequence_Fast(init, "init_commands must be a sequence of tuples");
    if (!seq) return NULL;
    enc_t e; enc_init(&e);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++)
        if (enc_sequence(&e, PySequence_Fast_GET_ITEM(seq, i), i) < 0) { enc_free(&e); Py_DECREF(seq); return NULL; }
    Py_DECREF(seq);
    uint64_t h = cp_open((char *)host, (int)host_len, port, (char *)unix_path, unix_path ? (int)unix_len : 0,
                         ct, st, e.buf, e.len, (int)n, size, autopipeline, max_queued);
    enc_free(&e);
    return PyLong_FromUnsignedLongLong(h);
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
    enc_t e; enc_init(&e);
    if (enc_command(&e, args, nargs) < 0) { enc_free(&e); return NULL; }
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
    Py_XSETREF(exc_data, Py_NewRef(d));
    Py_XSETREF(exc_fork, Py_NewRef(k));
    Py_RETURN_NONE;
}

static PyObject *py_mark_forked(PyObject *self, PyObject *unused) { forked = 1; Py_RETURN_NONE; }

static PyMethodDef methods[] = {
    {"execute", (PyCFunction)(void (*)(void))py_execute, METH_FASTCALL, "execute(handle, encoding, *command)"},
    {"execute_many", (PyCFunction)(void (*)(void))py_execute_many, METH_FASTCALL, "execute_many(handle, encoding, commands)"},
    {"submit", (PyCFunction)(void (*)(void))py_submit, METH_FASTCALL, "submit(handle, queue, tag, wait, *command) -> queued"},
    {"submit_many", (PyCFunction)(void (*)(void))py_submit_many, METH_FASTCALL, "submit_many(handle, queue, tag, wait, commands) -> queued"},
    {"poll", (PyCFunction)(void (*)(void))py_poll, METH_FASTCALL, "poll(queue, encoding, timeout) -> [(tag, value)]"},
    {"outstanding", py_outstanding, METH_O, "outstanding(queue)"},
    {"queue_open", py_queue_open, METH_O, "queue_open(notify_fd or -1) -> queue"},
    {"cancel", (PyCFunction)(void (*)(void))py_cancel, METH_FASTCALL, "cancel(handle, queue, tag) -> found"},
    {"queue_close", py_queue_close, METH_O, "queue_close(queue)"},
    {"open", py_open, METH_VARARGS, "open(...) -> handle"},
    {"close", py_close, METH_O, "close(handle)"},
    {"encode", (PyCFunction)(void (*)(void))py_encode, METH_FASTCALL, "encode(*command) -> RESP bytes"},
    {"configure", py_configure, METH_VARARGS, "configure(error_factory, ConnectionError, TimeoutError, AuthenticationError, ProtocolError, DataError, ForkError)"},
    {"mark_forked", py_mark_forked, METH_NOARGS, "called in a forked child"},
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
    if (m && PyModule_AddIntConstant(m, "CP_CLOSED", CP_CLOSED) < 0) Py_CLEAR(m);
    return m;
}
