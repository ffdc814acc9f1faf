// encode.h: command arguments to RESP, and what each command does to its
// connection (encode.c). Shared by bridge.c's entry points.
#ifndef CPIPE_ENCODE_H
#define CPIPE_ENCODE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// cpipe.DataError, handed in by configure(); owned by bridge.c.
extern PyObject *cp_exc_data;

// Redis's proto-max-bulk-len: the server refuses a longer argument.
#define CP_DEFAULT_MAX_BULK ((Py_ssize_t)512 * 1024 * 1024)

// A growable buffer that starts on the stack, so a typical command costs no
// allocation.
typedef struct {
    char *buf;
    Py_ssize_t len, cap;
    Py_ssize_t max_bulk;   // the longest argument accepted (proto_max_bulk_len)
    Py_ssize_t cmd_start;  // offset of the command being encoded, for messages
    char small[1024];
} enc_t;

// What a batch of commands does to the connection it runs on. Commands that
// would change what the connection sends back (SUBSCRIBE, MONITOR, ...) are
// refused while encoding, so a batch is only ever plain or blocking.
typedef struct {
    int blocking;      // some command may wait on the server (BLPOP, XREAD BLOCK, WAIT, ...)
    double block_for;  // the longest such wait, in seconds; -1 when one may wait forever
} batch_kind_t;

void enc_init(enc_t *e, Py_ssize_t max_bulk);
void enc_free(enc_t *e);

// Encodes one command (args[0] is its name) and adds it to *kind; with kind
// NULL (the client's own init commands) it is not classified. On error
// (DataError for a bad argument or a refused command) returns -1 and the
// buffer must be dropped.
int enc_command(enc_t *e, PyObject *const *args, Py_ssize_t n, batch_kind_t *kind);

// Encodes a pipeline: any iterable of tuples or lists of arguments, walked
// once holding strong references. *count is the number of commands.
int enc_pipeline(enc_t *e, PyObject *commands, Py_ssize_t *count, batch_kind_t *kind);

// Reads a proto_max_bulk_len value: a positive int.
int parse_max_bulk(PyObject *o, Py_ssize_t *out);

#endif
