// bridge_sentinel.h: what bridge.c takes from bridge_sentinel.c (Sentinel,
// sentinel_export.go): the method table entries and the exception classes
// of the Sentinel statuses.
#ifndef CPIPE_BRIDGE_SENTINEL_H
#define CPIPE_BRIDGE_SENTINEL_H

#include "encode.h"
#include <stdint.h>

// The class for a Sentinel status (CP_NO_MASTER, CP_NO_REPLICA), a borrowed
// reference; NULL for any other status, or before sentinel_configure.
PyObject *cp_sentinel_exception(int64_t status);

PyObject *py_sentinel_configure(PyObject *self, PyObject *args);
PyObject *py_sentinel_open(PyObject *self, PyObject *args);
PyObject *py_sentinel_target(PyObject *self, PyObject *args);
PyObject *py_sentinel_release(PyObject *self, PyObject *arg);
PyObject *py_sentinel_close(PyObject *self, PyObject *arg);
PyObject *py_sentinel_discover(PyObject *self, PyObject *args);

#define CP_SENTINEL_METHODS \
    {"sentinel_configure", py_sentinel_configure, METH_VARARGS, "sentinel_configure(MasterNotFoundError, SlaveNotFoundError)"}, \
    {"sentinel_open", py_sentinel_open, METH_VARARGS, "sentinel_open(handles, min_other_sentinels, force_master_ip) -> sentinel (takes the handles over)"}, \
    {"sentinel_target", py_sentinel_target, METH_VARARGS, "sentinel_target(sentinel, service_name, replica) -> resolver for EngineConfig.resolver"}, \
    {"sentinel_release", py_sentinel_release, METH_O, "sentinel_release(resolver)"}, \
    {"sentinel_close", py_sentinel_close, METH_O, "sentinel_close(sentinel)"}, \
    {"sentinel_discover", py_sentinel_discover, METH_VARARGS, "sentinel_discover(sentinel, service_name, replicas) -> [ip, port] or [[ip, port], ...]"},

#endif
