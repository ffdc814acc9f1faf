// bridge_cluster.c: the Python side of Redis Cluster (cluster_export.go,
// engine/cluster*.go). Commands are encoded as for one server (encode.c:
// refused commands refused, blocking ones classified); the engine reads
// their keys, routes them and follows redirects; this file only moves
// arguments in and replies out.
#include "bridge_cluster.h"
#include "bridge_pubsub.h"

#include <stdlib.h>
#include "_cgo_export.h"

#define ERRCAP 512

int cp_bridge_forked(void);  // bridge.c: in a forked child Go must not run

static PyObject *exc_keys, *exc_cross_tx, *exc_down;  // RedisClusterException, CrossSlotTransactionError, ClusterDownError

PyObject *cp_cluster_exception(int64_t status) {
    if (status == CP_CLUSTER_KEYS) return exc_keys;
    if (status == CP_CLUSTER_CROSS_TX) return exc_cross_tx;
    if (status == CP_CLUSTER_DOWN) return exc_down;
    return NULL;
}

PyObject *py_cluster_configure(PyObject *self, PyObject *args) {
    PyObject *k, *t, *d;
    if (!PyArg_ParseTuple(args, "OOO", &k, &t, &d)) return NULL;
    Py_XSETREF(exc_keys, Py_NewRef(k));
    Py_XSETREF(exc_cross_tx, Py_NewRef(t));
    Py_XSETREF(exc_down, Py_NewRef(d));
    Py_RETURN_NONE;
}

// cluster_open(handle, seeds, refresh_every, replica_reads) -> cluster.
// seeds: "host:port" separated by whitespace.
PyObject *py_cluster_open(PyObject *self, PyObject *args) {
    PyObject *h_obj; const char *seeds; Py_ssize_t seeds_len; double every; int reads;
    uint64_t h;
    if (!PyArg_ParseTuple(args, "Os#di", &h_obj, &seeds, &seeds_len, &every, &reads)) return NULL;
    if (cp_bridge_ready() < 0 || cp_bridge_handle(h_obj, &h) < 0) return NULL;
    if (seeds_len > INT32_MAX || !(every >= 0 && every <= 1e9) || reads < 0 || reads > 3) {
        PyErr_SetString(PyExc_ValueError, "cluster_open: seeds too long, refresh_every not in 0..1e9 or replica_reads not in 0..3");
        return NULL;
    }
    uint64_t c = cp_cluster_open(h, (char *)seeds, (int)seeds_len, every, reads);
    if (!c) return cp_bridge_raise(CP_CLOSED, "cluster_open: the handle is closed");
    return PyLong_FromUnsignedLongLong(c);
}

// node: None or "host:port"; slot: an int, -1 for none.
static int parse_target(PyObject *node, PyObject *slot_obj, const char **p, Py_ssize_t *len, int *slot) {
    *p = NULL; *len = 0;
    if (node != Py_None && !(*p = PyUnicode_AsUTF8AndSize(node, len))) return -1;
    long s = PyLong_AsLong(slot_obj);
    if (s == -1 && PyErr_Occurred()) return -1;
    if (s < -1 || s > 16383) { PyErr_Format(PyExc_ValueError, "slot %ld is not in 0..16383", s); return -1; }
    *slot = (int)s;
    return 0;
}

// A blocking command (BLPOP ...) in a cluster pipeline would hold a node's
// shared connection for everyone: refused before anything is sent.
static int refuse_blocking_batch(const batch_kind_t *kind) {
    if (!kind->blocking) return 0;
    PyErr_SetString(exc_keys ? exc_keys : PyExc_ValueError,
                    "a cluster pipeline cannot hold a blocking command (BLPOP, XREAD BLOCK, WAIT, ...): send it on its own");
    return -1;
}

// The call, with the GIL released; the tape is the caller's to free.
static int run(uint64_t h, enc_t *e, int64_t n, int mode, const char *node, Py_ssize_t node_len, int slot,
               const batch_kind_t *kind, char **tape, int64_t *tape_len, char *err) {
    int status, wake = cp_bridge_main_thread();
    Py_BEGIN_ALLOW_THREADS
    status = cp_cluster_exec(h, e->buf, e->len, n, mode, (char *)node, (int)node_len, slot,
                             kind->blocking, kind->block_for, wake, tape, tape_len, err, ERRCAP);
    Py_END_ALLOW_THREADS
    return status;
}

// cluster_execute(cluster, encoding, max_bulk, node, slot, *command): one
// command, routed by its keys (or run on node, or on slot's owner); an
// error reply raises.
PyObject *py_cluster_execute(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h; Py_ssize_t max_bulk, node_len; const char *node; int slot;
    if (nargs < 6) { PyErr_SetString(PyExc_TypeError, "cluster_execute(cluster, encoding, max_bulk, node, slot, *command)"); return NULL; }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0 || parse_max_bulk(args[2], &max_bulk) < 0 ||
        parse_target(args[3], args[4], &node, &node_len, &slot) < 0) return NULL;
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    if (enc_command(&e, args + 5, nargs - 5, &kind) < 0) { enc_free(&e); return NULL; }
    char *tape = NULL; int64_t tape_len = 0; char err[ERRCAP];
    int status = run(h, &e, 1, CP_CLUSTER_ONE, node, node_len, slot, &kind, &tape, &tape_len, err);
    enc_free(&e);
    if (status != CP_OK) { free(tape); return cp_bridge_raise(status, err); }
    const char *p = tape;
    PyObject *r = cp_bridge_build(&p, args[1]);
    free(tape);
    if (r && PyExceptionInstance_Check(r)) {
        PyErr_SetObject((PyObject *)Py_TYPE(r), r);
        Py_CLEAR(r);
    }
    return r;
}

// cluster_execute_many(cluster, encoding, max_bulk, transaction, commands):
// a pipeline (each command routed) or a transaction (MULTI ... EXEC on
// the commands' one slot: n + 2 replies). Replies in a list, errors in place.
PyObject *py_cluster_execute_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h; Py_ssize_t max_bulk, n;
    if (nargs != 5) { PyErr_SetString(PyExc_TypeError, "cluster_execute_many(cluster, encoding, max_bulk, transaction, commands)"); return NULL; }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0 || parse_max_bulk(args[2], &max_bulk) < 0) return NULL;
    int transaction = PyObject_IsTrue(args[3]);
    if (transaction < 0) return NULL;
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    if (enc_pipeline(&e, args[4], &n, &kind) < 0) { enc_free(&e); return NULL; }
    if (n == 0) { enc_free(&e); return PyList_New(0); }
    if (refuse_blocking_batch(&kind) < 0) { enc_free(&e); return NULL; }
    batch_kind_t plain = {0, -1};  // a node's share of a pipeline runs on its shared connections
    char *tape = NULL; int64_t tape_len = 0; char err[ERRCAP];
    int status = run(h, &e, n, transaction ? CP_CLUSTER_TRANSACTION : CP_CLUSTER_PIPELINE, NULL, 0, -1, &plain,
                     &tape, &tape_len, err);
    enc_free(&e);
    if (status != CP_OK) { free(tape); return cp_bridge_raise(status, err); }
    int64_t replies = transaction ? n + 2 : n;
    PyObject *out = PyList_New((Py_ssize_t)replies);
    const char *p = tape;
    for (int64_t i = 0; out && i < replies; i++) {
        PyObject *item = cp_bridge_build(&p, args[1]);
        if (!item) Py_CLEAR(out); else PyList_SET_ITEM(out, (Py_ssize_t)i, item);
    }
    free(tape);
    return out;
}

// cluster_submit(cluster, queue, tag, max_bulk, mode, node, slot, commands):
// as cluster_execute (mode 0, one command in commands) or
// cluster_execute_many (mode 1 pipeline, 2 transaction), completing into
// the queue (collected by poll) instead of waiting. Never waits.
PyObject *py_cluster_submit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h, qh, tag; Py_ssize_t max_bulk, node_len, n; const char *node; int slot;
    if (nargs != 8) { PyErr_SetString(PyExc_TypeError, "cluster_submit(cluster, queue, tag, max_bulk, mode, node, slot, commands)"); return NULL; }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0 || cp_bridge_handle(args[1], &qh) < 0 ||
        cp_bridge_handle(args[2], &tag) < 0 || parse_max_bulk(args[3], &max_bulk) < 0 ||
        parse_target(args[5], args[6], &node, &node_len, &slot) < 0) return NULL;
    long mode = PyLong_AsLong(args[4]);
    if (mode == -1 && PyErr_Occurred()) return NULL;
    if (mode < CP_CLUSTER_ONE || mode > CP_CLUSTER_TRANSACTION) { PyErr_SetString(PyExc_ValueError, "cluster_submit: mode is 0, 1 or 2"); return NULL; }
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    if (enc_pipeline(&e, args[7], &n, &kind) < 0) { enc_free(&e); return NULL; }
    if (mode == CP_CLUSTER_ONE && n != 1) { enc_free(&e); PyErr_SetString(PyExc_ValueError, "cluster_submit: mode 0 takes one command"); return NULL; }
    if (mode != CP_CLUSTER_ONE && refuse_blocking_batch(&kind) < 0) { enc_free(&e); return NULL; }
    char err[ERRCAP];
    int status = cp_cluster_submit(h, qh, e.buf, e.len, n, (int)mode, (char *)node, (int)node_len, slot,
                                   kind.blocking, kind.block_for, tag, err, ERRCAP);
    enc_free(&e);
    if (status != CP_OK) return cp_bridge_raise(status, err);
    return PyLong_FromLong(1);  // _engine.QUEUED; never BLOCKING: no connection of its own to cancel
}

// cluster_nodes(cluster, refresh) -> [[[host, port, primary, id], ...], [[start, end, node index...], ...]]
PyObject *py_cluster_nodes(PyObject *self, PyObject *args) {
    PyObject *h_obj; int refresh; uint64_t h;
    if (!PyArg_ParseTuple(args, "Op", &h_obj, &refresh)) return NULL;
    if (cp_bridge_ready() < 0 || cp_bridge_handle(h_obj, &h) < 0) return NULL;
    char *tape = NULL; int64_t tape_len = 0; char err[ERRCAP]; int status;
    Py_BEGIN_ALLOW_THREADS
    status = cp_cluster_nodes(h, refresh, &tape, &tape_len, err, ERRCAP);
    Py_END_ALLOW_THREADS
    if (status != CP_OK) { free(tape); return cp_bridge_raise(status, err); }
    PyObject *encoding = PyUnicode_FromString("utf-8");
    const char *p = tape;
    PyObject *r = encoding ? cp_bridge_build(&p, encoding) : NULL;
    Py_XDECREF(encoding);
    free(tape);
    return r;
}

PyObject *py_cluster_close(PyObject *self, PyObject *arg) {
    uint64_t h;
    if (cp_bridge_handle(arg, &h) < 0) return NULL;
    if (cp_bridge_forked()) Py_RETURN_NONE;  // the parent's connections are not ours to touch
    Py_BEGIN_ALLOW_THREADS
    cp_cluster_close(h);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}
