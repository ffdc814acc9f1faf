// bridge_stage.h: staged submissions (bridge_stage.c) for Pool's phset,
// phget and fire_and_forget, which encode each command at the call and send
// many as one engine request.
#ifndef CPIPE_BRIDGE_STAGE_H
#define CPIPE_BRIDGE_STAGE_H

#include "encode.h"
#include <stdint.h>

// The size of the error buffers cp_bridge_submit_encoded writes (bridge.c's ERRCAP).
#define CP_BRIDGE_ERRCAP 512

// bridge.c's helpers, for bridge_stage.c (thin wrappers of its statics).
int cp_bridge_submit_encoded(uint64_t h, uint64_t qh, enc_t *e, int64_t n, uint64_t tag, int batch,
                             int blocking, double block_for, int wait, char *err);
PyObject *cp_bridge_submit_result(int status, const enc_t *e, int64_t n, int batch, const batch_kind_t *kind,
                                  const char *err);
int cp_bridge_handle(PyObject *o, uint64_t *h);
int cp_bridge_ready(void);

// Adds StageCore and FutureCore (bridge_future.c) to the module; 0 or -1.
int cp_stage_add_types(PyObject *module);

PyObject *py_stage(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_submit_staged(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#define CP_STAGE_METHODS \
    {"stage", (PyCFunction)(void (*)(void))py_stage, METH_FASTCALL, "stage(buffer: bytearray, max_bulk, *command) -> bool: encoded onto buffer (False: a blocking command, not staged)"}, \
    {"submit_staged", (PyCFunction)(void (*)(void))py_submit_staged, METH_FASTCALL, "submit_staged(handle, queue, tag, wait, buffer, n) -> QUEUED bits, or a prepared request"},

#endif
