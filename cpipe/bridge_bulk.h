// bridge_bulk.h: the Python side of streamed bulk writes (bridge_bulk.c,
// bulk_export.go, engine/bulk*.go), registered in bridge.c's method table.
#ifndef CPIPE_BRIDGE_BULK_H
#define CPIPE_BRIDGE_BULK_H

#include "encode.h"

PyObject *py_bulk_open(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#define CP_BULK_METHODS \
    {"bulk_open", (PyCFunction)(void (*)(void))py_bulk_open, METH_FASTCALL, \
     "bulk_open(handle, max_bulk, batch, batch_bytes, max_pending, max_pending_bytes, max_errors, keep_replies, " \
     "blocking, lost) -> BulkWriter (connected)"},

#endif
