// bridge_cluster.h: what bridge.c takes from bridge_cluster.c (Redis
// Cluster, cluster_export.go): the method table entries and the exception
// classes of the router's statuses.
#ifndef CPIPE_BRIDGE_CLUSTER_H
#define CPIPE_BRIDGE_CLUSTER_H

#include "encode.h"
#include <stdint.h>

// The class for a cluster status (CP_CLUSTER_KEYS, CP_CLUSTER_CROSS_TX,
// CP_CLUSTER_DOWN), a borrowed reference; NULL for any other status, or
// before cluster_configure.
PyObject *cp_cluster_exception(int64_t status);

PyObject *py_cluster_configure(PyObject *self, PyObject *args);
PyObject *py_cluster_open(PyObject *self, PyObject *args);
PyObject *py_cluster_execute(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_cluster_execute_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_cluster_submit(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_cluster_nodes(PyObject *self, PyObject *args);
PyObject *py_cluster_close(PyObject *self, PyObject *arg);

#define CP_CLUSTER_METHODS \
    {"cluster_configure", py_cluster_configure, METH_VARARGS, "cluster_configure(RedisClusterException, CrossSlotTransactionError, ClusterDownError)"}, \
    {"cluster_open", py_cluster_open, METH_VARARGS, "cluster_open(handle, seeds, refresh_every, replica_reads) -> cluster (takes the handle over)"}, \
    {"cluster_execute", (PyCFunction)(void (*)(void))py_cluster_execute, METH_FASTCALL, "cluster_execute(cluster, encoding, max_bulk, node, slot, *command)"}, \
    {"cluster_execute_many", (PyCFunction)(void (*)(void))py_cluster_execute_many, METH_FASTCALL, "cluster_execute_many(cluster, encoding, max_bulk, transaction, commands) -> replies, errors in place"}, \
    {"cluster_submit", (PyCFunction)(void (*)(void))py_cluster_submit, METH_FASTCALL, "cluster_submit(cluster, queue, tag, max_bulk, mode, node, slot, commands) -> QUEUED bits"}, \
    {"cluster_nodes", py_cluster_nodes, METH_VARARGS, "cluster_nodes(cluster, refresh) -> [nodes, slot ranges]"}, \
    {"cluster_close", py_cluster_close, METH_O, "cluster_close(cluster)"},

#endif
