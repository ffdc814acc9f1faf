// bridge_pubsub.h: what bridge.c and bridge_pubsub.c share for pub/sub and
// MONITOR connections (engine.Subscriber, pubsub_export.go).
#ifndef CPIPE_BRIDGE_PUBSUB_H
#define CPIPE_BRIDGE_PUBSUB_H

#include "encode.h"
#include <stdint.h>

// bridge.c's helpers, for bridge_pubsub.c (thin wrappers of its statics).
PyObject *cp_bridge_build(const char **pp, PyObject *encoding);   // build_or_error
PyObject *cp_bridge_raise(int status, const char *msg);          // raise_status
int cp_bridge_ready(void);                                        // check_ready
int cp_bridge_handle(PyObject *o, uint64_t *h);                   // parse_handle
int cp_bridge_main_thread(void);                                  // interruptible

PyObject *py_sub_open(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_sub_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_sub_start(PyObject *self, PyObject *arg);
PyObject *py_sub_poll(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_sub_stats(PyObject *self, PyObject *arg);
PyObject *py_sub_close(PyObject *self, PyObject *arg);

#define CP_PUBSUB_METHODS \
    {"sub_open", (PyCFunction)(void (*)(void))py_sub_open, METH_FASTCALL, "sub_open(handle, max_messages, max_bytes, monitor, notify_fd, reconnect_for) -> subscriber"}, \
    {"sub_send", (PyCFunction)(void (*)(void))py_sub_send, METH_FASTCALL, "sub_send(subscriber, max_bulk, *command)"}, \
    {"sub_start", py_sub_start, METH_O, "sub_start(subscriber): connect a MONITOR connection"}, \
    {"sub_poll", (PyCFunction)(void (*)(void))py_sub_poll, METH_FASTCALL, "sub_poll(subscriber, encoding, timeout, max, dicts) -> [message] or None once closed"}, \
    {"sub_stats", py_sub_stats, METH_O, "sub_stats(subscriber) -> (queued messages, queued bytes, reconnects)"}, \
    {"sub_close", py_sub_close, METH_O, "sub_close(subscriber)"},

#endif
