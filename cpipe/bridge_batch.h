// bridge_batch.h: a pipeline's commands encoded as they are queued
// (bridge_batch.c), for cpipe.Pipeline.
#ifndef CPIPE_BRIDGE_BATCH_H
#define CPIPE_BRIDGE_BATCH_H

#include "encode.h"

PyObject *py_execute_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_staged_method(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
int cp_batch_add_type(PyObject *module);  // the module's Batch type

#define CP_BATCH_METHODS \
    {"execute_batch", (PyCFunction)(void (*)(void))py_execute_batch, METH_FASTCALL, "execute_batch(handle, encoding, batch, multi) -> (replies, errors)"}, \
    {"staged_method", (PyCFunction)(void (*)(void))py_staged_method, METH_FASTCALL, "staged_method(name, nmin, nmax, fallback) -> a pipeline's hot method in C"},

#endif
