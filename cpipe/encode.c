// encode.c: command arguments to RESP, and the one place that decides what
// a command does to its connection.
//
// A command is classified from the bytes just encoded for it, so every
// spelling of its name (str, bytes, their subclasses, bytearray, memoryview,
// any case) is seen exactly as the server will see it. Three kinds:
//   plain      request/reply; may share a coalesced connection;
//   blocking   may wait on the server (BLPOP, XREAD BLOCK, WAIT, ...): runs
//              on a connection of its own, read timeout stretched by its wait;
//   refused    changes what the connection sends back (SUBSCRIBE, MONITOR,
//              CLIENT REPLY OFF|SKIP, HELLO, RESET, QUIT): DataError before
//              anything is sent, naming the API to use instead.
#include "encode.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

PyObject *cp_exc_data;

// ---------------------------------------------------------------- buffer

void enc_init(enc_t *e, Py_ssize_t max_bulk) {
    e->buf = e->small;
    e->len = 0;
    e->cap = sizeof e->small;
    e->max_bulk = max_bulk;
    e->cmd_start = 0;
}

void enc_free(enc_t *e) { if (e->buf != e->small) PyMem_RawFree(e->buf); }

static int enc_grow(enc_t *e, Py_ssize_t need) {
    if (need > PY_SSIZE_T_MAX - e->len) { PyErr_NoMemory(); return -1; }
    Py_ssize_t want = e->len + need, cap = e->cap;
    while (cap < want) cap = cap > PY_SSIZE_T_MAX / 2 ? want : cap * 2;
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

// Writes c, then the decimal of v, then CRLF (room for 24 bytes reserved).
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

// n has been checked against the bulk limit, so n + 32 cannot overflow.
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

// ---------------------------------------------------------------- reading back

// One argument of the command being encoded, read back from the buffer.
typedef struct { const char *p; Py_ssize_t len; } word_t;

// A cursor over the arguments of the command at e->cmd_start.
typedef struct { const char *p; } words_t;

static void words_open(const enc_t *e, words_t *w) {
    const char *p = e->buf + e->cmd_start;
    while (*p++ != '\n') {}   // past "*<n>\r\n"
    w->p = p;
}

// The next argument; the caller knows how many there are.
static word_t words_next(words_t *w) {
    const char *p = w->p + 1;  // past '$'
    Py_ssize_t len = 0;
    while (*p != '\r') len = len * 10 + (*p++ - '0');
    word_t out = {p + 2, len};
    w->p = out.p + len + 2;
    return out;
}

static word_t word_at(const enc_t *e, Py_ssize_t index) {
    words_t w;
    words_open(e, &w);
    word_t out = words_next(&w);
    while (index-- > 0) out = words_next(&w);
    return out;
}

static inline char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 32) : c; }

// Whether w is `upper` in any case (ASCII only, whatever the C locale).
static int word_is(word_t w, const char *upper, Py_ssize_t len) {
    if (w.len != len) return 0;
    for (Py_ssize_t i = 0; i < len; i++)
        if (ascii_upper(w.p[i]) != upper[i]) return 0;
    return 1;
}
#define WORD_IS(w, lit) word_is((w), (lit), (Py_ssize_t)sizeof(lit) - 1)

// The command's name, for messages (an exact str: repr() runs no user code).
static PyObject *command_name(const enc_t *e, Py_ssize_t pos) {
    PyObject *name = NULL;
    if (pos > 0) {  // the name is already in the buffer
        word_t w = word_at(e, 0);
        name = PyUnicode_DecodeUTF8(w.p, w.len, "replace");
    }
    if (!name) { PyErr_Clear(); name = PyUnicode_FromString("?"); }
    return name;
}

// ---------------------------------------------------------------- arguments

static void data_error(const enc_t *e, PyObject *arg, Py_ssize_t pos, const char *why) {
    PyObject *name = command_name(e, pos);
    if (!name) return;
    PyErr_Format(cp_exc_data,
                 "Invalid input of type: '%s' at argument %zd of command %R%s. "
                 "Convert to a bytes, string, int or float first.",
                 Py_TYPE(arg)->tp_name, pos, name, why);
    Py_DECREF(name);
}

// Refuses an argument longer than the server accepts, before it is copied.
static int check_bulk(const enc_t *e, Py_ssize_t pos, Py_ssize_t n) {
    if (n <= e->max_bulk) return 0;
    PyObject *name = command_name(e, pos);
    if (!name) return -1;
    PyErr_Format(cp_exc_data,
                 "argument %zd of command %R is %zd bytes, longer than proto_max_bulk_len=%zd "
                 "(the server refuses arguments longer than its proto-max-bulk-len)",
                 pos, name, n, e->max_bulk);
    Py_DECREF(name);
    return -1;
}

// The UTF-8 length of a str, counted without encoding it.
static Py_ssize_t utf8_length(PyObject *s) {
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), bytes = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        bytes += (c >= 0x80) + (c >= 0x800) + (c >= 0x10000);
    }
    return bytes;
}

// A str's UTF-8, checked against the bulk limit before anything is copied:
// an ASCII str is its own UTF-8; for others, when the UTF-8 could be longer
// than the limit, its exact length is counted first.
static int enc_str(enc_t *e, PyObject *a, Py_ssize_t pos) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(a) < 0) return -1;
#endif
    if (!PyUnicode_IS_ASCII(a)) {
        int kind = PyUnicode_KIND(a);
        Py_ssize_t widest = kind == PyUnicode_1BYTE_KIND ? 2 : kind == PyUnicode_2BYTE_KIND ? 3 : 4;
        if (PyUnicode_GET_LENGTH(a) > e->max_bulk / widest && check_bulk(e, pos, utf8_length(a)) < 0) return -1;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(a, &n);
    if (!s) { PyErr_Clear(); data_error(e, a, pos, " (not encodable as UTF-8)"); return -1; }
    if (check_bulk(e, pos, n) < 0) return -1;
    return enc_bulk(e, s, n);
}

// Rare argument types, kept out of the fast path. Python code may run here
// (an int subclass's __str__): the caller holds strong references to every
// argument, so whatever it changes, nothing we read is freed.
static int enc_arg_slow(enc_t *e, PyObject *a, Py_ssize_t pos) {
    if (PyBool_Check(a)) { data_error(e, a, pos, ""); return -1; }
    if (PyByteArray_Check(a)) {
        Py_ssize_t n = PyByteArray_GET_SIZE(a);
        return check_bulk(e, pos, n) < 0 ? -1 : enc_bulk(e, PyByteArray_AS_STRING(a), n);
    }
    if (PyUnicode_Check(a)) return enc_str(e, a, pos);  // str subclass: its own characters, no __str__
    if (PyLong_Check(a) || PyFloat_Check(a)) {  // int/float subclasses, or ints past 64 bits
        PyObject *r = PyLong_Check(a) ? PyObject_Str(a) : PyObject_Repr(a);
        if (!r) {
            if (PyLong_CheckExact(a) && PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                data_error(e, a, pos, " (more digits than sys.get_int_max_str_digits() allows)");
            }
            return -1;
        }
        int rc = enc_str(e, r, pos);  // str() and repr() return a str
        Py_DECREF(r);
        return rc;
    }
    if (PyObject_CheckBuffer(a)) {  // bytes subclasses, memoryview, array.array, ...
        Py_buffer view;
        if (PyObject_GetBuffer(a, &view, PyBUF_SIMPLE) < 0) {
            PyErr_Clear(); data_error(e, a, pos, " (not a contiguous buffer)"); return -1;
        }
        int rc = check_bulk(e, pos, view.len) < 0 ? -1 : enc_bulk(e, view.buf, view.len);
        PyBuffer_Release(&view);
        return rc;
    }
    data_error(e, a, pos, "");
    return -1;
}

static inline int enc_arg(enc_t *e, PyObject *a, Py_ssize_t pos) {
    if (PyBytes_CheckExact(a)) {
        Py_ssize_t n = PyBytes_GET_SIZE(a);
        return check_bulk(e, pos, n) < 0 ? -1 : enc_bulk(e, PyBytes_AS_STRING(a), n);
    }
    if (PyUnicode_CheckExact(a)) return enc_str(e, a, pos);
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
    return enc_arg_slow(e, a, pos);
}

// ---------------------------------------------------------------- classification

enum rule {
    WAIT_LAST_SECONDS,   // BLPOP key... timeout
    WAIT_ARG1_SECONDS,   // BLMPOP timeout numkeys key...
    WAIT_ARG2_MS,        // WAIT numreplicas timeout
    WAIT_ARG3_MS,        // WAITAOF numlocal numreplicas timeout
    WAIT_BLOCK_OPTION,   // XREAD/XREADGROUP ... BLOCK ms ... STREAMS
    CLIENT_SUBCOMMAND,   // refused only as CLIENT REPLY OFF|SKIP
    REFUSE_PUBSUB, REFUSE_MONITOR, REFUSE_HELLO, REFUSE_RESET,
};

// Grouped by first letter: classify looks only at the group of the name's
// first letter (most commands' letters have none).
#define SPECIAL(name, rule) {name, (Py_ssize_t)sizeof(name) - 1, rule}
static const struct special { const char *name; Py_ssize_t len; enum rule rule; } specials[] = {
    SPECIAL("BLPOP", WAIT_LAST_SECONDS), SPECIAL("BRPOP", WAIT_LAST_SECONDS),
    SPECIAL("BRPOPLPUSH", WAIT_LAST_SECONDS), SPECIAL("BLMOVE", WAIT_LAST_SECONDS),
    SPECIAL("BZPOPMIN", WAIT_LAST_SECONDS), SPECIAL("BZPOPMAX", WAIT_LAST_SECONDS),
    SPECIAL("BLMPOP", WAIT_ARG1_SECONDS), SPECIAL("BZMPOP", WAIT_ARG1_SECONDS),
    SPECIAL("CLIENT", CLIENT_SUBCOMMAND),
    SPECIAL("HELLO", REFUSE_HELLO),
    SPECIAL("MONITOR", REFUSE_MONITOR),
    SPECIAL("PSUBSCRIBE", REFUSE_PUBSUB), SPECIAL("PUNSUBSCRIBE", REFUSE_PUBSUB),
    SPECIAL("QUIT", REFUSE_RESET),
    SPECIAL("RESET", REFUSE_RESET),
    SPECIAL("SUBSCRIBE", REFUSE_PUBSUB), SPECIAL("SSUBSCRIBE", REFUSE_PUBSUB), SPECIAL("SUNSUBSCRIBE", REFUSE_PUBSUB),
    SPECIAL("UNSUBSCRIBE", REFUSE_PUBSUB),
    SPECIAL("WAIT", WAIT_ARG2_MS), SPECIAL("WAITAOF", WAIT_ARG3_MS),
    SPECIAL("XREAD", WAIT_BLOCK_OPTION), SPECIAL("XREADGROUP", WAIT_BLOCK_OPTION),
};
#define NSPECIALS (sizeof specials / sizeof specials[0])
#define SPECIAL_MIN_LEN 4
#define SPECIAL_MAX_LEN 12

// The entry for name, or NULL: a plain command.
static const struct special *find_special(word_t name) {
    static unsigned char group_start[27];  // specials[group_start[c]..group_start[c+1]) start with 'A' + c
    static int grouped;
    if (!grouped) {  // once, under the GIL
        size_t i = 0;
        for (int c = 0; c <= 26; c++) {
            while (i < NSPECIALS && specials[i].name[0] - 'A' < c) i++;
            group_start[c] = (unsigned char)i;
        }
        grouped = 1;
    }
    if (name.len < SPECIAL_MIN_LEN || name.len > SPECIAL_MAX_LEN) return NULL;
    int c = ascii_upper(name.p[0]) - 'A';
    if (c < 0 || c >= 26) return NULL;
    for (size_t i = group_start[c]; i < group_start[c + 1]; i++)
        if (word_is(name, specials[i].name, specials[i].len)) return &specials[i];
    return NULL;
}

// How long a command may wait, given its timeout argument in seconds (unit
// 1) or milliseconds (unit 1000). 0 means forever, as on the server; so does
// anything unreadable, which the server refuses at once anyway.
static double wait_seconds(word_t w, double unit) {
    char tmp[64];
    if (w.len == 0 || w.len >= (Py_ssize_t)sizeof tmp) return -1;
    memcpy(tmp, w.p, w.len);
    tmp[w.len] = 0;
    char *end;
    double v = PyOS_string_to_double(tmp, &end, NULL);  // locale-independent
    if (v == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return -1; }
    if (end != tmp + w.len || !(v > 0) || isinf(v)) return -1;
    return v / unit;
}

// XREAD [COUNT n] [BLOCK ms] STREAMS ...; XREADGROUP GROUP g c [COUNT n]
// [BLOCK ms] [NOACK] STREAMS ...: whether BLOCK comes before STREAMS.
static int block_option(const enc_t *e, Py_ssize_t n, double *block_for) {
    words_t w;
    words_open(e, &w);
    words_next(&w);  // the name
    for (Py_ssize_t i = 1; i < n; i++) {
        word_t opt = words_next(&w);
        if (WORD_IS(opt, "STREAMS")) return 0;
        if (WORD_IS(opt, "BLOCK") && i + 1 < n) { *block_for = wait_seconds(words_next(&w), 1000); return 1; }
        Py_ssize_t values = WORD_IS(opt, "COUNT") ? 1 : WORD_IS(opt, "GROUP") ? 2 : 0;
        for (; values > 0 && i + 1 < n; values--, i++) words_next(&w);
    }
    return 0;
}

static int refuse(const char *name, enum rule rule) {
    switch (rule) {
    case REFUSE_PUBSUB:
        PyErr_Format(cp_exc_data,
            "%s puts the connection in subscriber mode, where replies no longer match commands, "
            "so cpipe refuses it on its shared connections. Subscribe with client.pubsub(), "
            "which subscribes on a connection of its own.", name);
        break;
    case REFUSE_MONITOR:
        PyErr_SetString(cp_exc_data,
            "MONITOR turns the connection into a stream of every command the server runs, so cpipe "
            "refuses it on its shared connections. Use client.monitor(), which gives it a connection "
            "of its own.");
        break;
    case REFUSE_HELLO:
        PyErr_SetString(cp_exc_data,
            "HELLO would change the protocol and state of a connection other callers share, so "
            "cpipe refuses it. The client's protocol= option (2 or 3) chooses the protocol.");
        break;
    case REFUSE_RESET:
        PyErr_Format(cp_exc_data,
            "%s would reset or close a connection other callers share, so cpipe refuses it. "
            "Use close() to end the client, or create a new client for a fresh connection.", name);
        break;
    default:
        PyErr_SetString(cp_exc_data,
            "CLIENT REPLY OFF|SKIP stops the server answering commands, which cannot be used on "
            "shared connections: cpipe matches every reply to its command by position.");
    }
    return -1;
}

// Classifies the command just encoded (n arguments) into *kind; -1 with
// DataError set for a refused command.
static int classify(const enc_t *e, Py_ssize_t n, batch_kind_t *kind) {
    const struct special *sp = find_special(word_at(e, 0));
    if (!sp) return 0;
    double wait = -1;
    switch (sp->rule) {
    case WAIT_LAST_SECONDS: if (n > 2) wait = wait_seconds(word_at(e, n - 1), 1); break;
    case WAIT_ARG1_SECONDS: if (n > 1) wait = wait_seconds(word_at(e, 1), 1); break;
    case WAIT_ARG2_MS: if (n > 2) wait = wait_seconds(word_at(e, 2), 1000); break;
    case WAIT_ARG3_MS: if (n > 3) wait = wait_seconds(word_at(e, 3), 1000); break;
    case WAIT_BLOCK_OPTION: if (!block_option(e, n, &wait)) return 0; break;
    case CLIENT_SUBCOMMAND: {
        if (n < 3 || !WORD_IS(word_at(e, 1), "REPLY")) return 0;
        word_t mode = word_at(e, 2);
        if (!WORD_IS(mode, "OFF") && !WORD_IS(mode, "SKIP")) return 0;
        return refuse("CLIENT", CLIENT_SUBCOMMAND);
    }
    default:
        return refuse(sp->name, sp->rule);
    }
    // The batch waits as long as its longest wait; forever (-1) wins.
    if (!kind->blocking) kind->block_for = wait;
    else if (kind->block_for >= 0 && (wait < 0 || wait > kind->block_for)) kind->block_for = wait;
    kind->blocking = 1;
    return 0;
}

// ---------------------------------------------------------------- commands

int enc_command(enc_t *e, PyObject *const *args, Py_ssize_t n, batch_kind_t *kind) {
    if (n == 0) { PyErr_SetString(cp_exc_data, "a command needs at least its name"); return -1; }
    e->cmd_start = e->len;
    if (enc_reserve(e, 24) < 0) return -1;
    enc_header(e, '*', n);
    for (Py_ssize_t i = 0; i < n; i++)
        if (enc_arg(e, args[i], i) < 0) return -1;
    return kind ? classify(e, n, kind) : 0;
}

// One pipeline entry: a tuple, or a list (copied: Python code run while it
// is encoded could change it).
static int enc_entry(enc_t *e, PyObject *cmd, batch_kind_t *kind) {
    PyObject *args;
    if (PyTuple_CheckExact(cmd)) {
        args = Py_NewRef(cmd);
    } else if (PyTuple_Check(cmd) || PyList_Check(cmd)) {
        args = PySequence_Tuple(cmd);
        if (!args) return -1;
    } else {
        PyErr_Format(cp_exc_data, "a %s, not a tuple of arguments", Py_TYPE(cmd)->tp_name);
        return -1;
    }
    int rc = enc_command(e, &PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args), kind);
    Py_DECREF(args);
    return rc;
}

int enc_pipeline(enc_t *e, PyObject *commands, Py_ssize_t *count, batch_kind_t *kind) {
    if (!Py_TYPE(commands)->tp_iter && !PySequence_Check(commands)) {
        PyErr_Format(PyExc_TypeError, "commands must be a sequence of tuples, not %s", Py_TYPE(commands)->tp_name);
        return -1;
    }
    // One pass over a snapshot holding strong references: an iterator is
    // consumed once, and a list changed while encoding frees nothing we read.
    PyObject *seq = PySequence_Tuple(commands);
    if (!seq) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(seq), i;
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++) rc = enc_entry(e, PyTuple_GET_ITEM(seq, i), kind);
    Py_DECREF(seq);
    if (rc < 0) {
        if (PyErr_ExceptionMatches(cp_exc_data)) {  // name the command; other errors pass unchanged
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
            PyErr_Format(type, "pipeline command %zd: %S (nothing was sent)", i - 1, value);
            Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
        }
        return -1;
    }
    *count = n;
    return 0;
}

int parse_max_bulk(PyObject *o, Py_ssize_t *out) {
    Py_ssize_t v = PyLong_AsSsize_t(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v <= 0) { PyErr_Format(PyExc_ValueError, "proto_max_bulk_len must be positive, not %zd", v); return -1; }
    *out = v;
    return 0;
}
