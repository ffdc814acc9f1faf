// Staged submissions: Pool.phset/phget/fire_and_forget encode each command
// when it is called (so a bad argument raises there, before anything is
// sent) onto a bytearray the pool keeps, and send what accumulated as one
// engine request whose replies come back as one list. One request per batch
// instead of one per command is what makes a future cheap: the cgo call,
// the engine's Request and its completion are paid once per batch.
#include "bridge_stage.h"

#include <string.h>

// stage(buffer, max_bulk, *command) -> True, or False for a command that may
// block on the server (BLPOP, ...), which is not staged: a batch holding one
// would hold every command behind it. A DataError leaves buffer as it was.
PyObject *py_stage(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t max_bulk;
    if (nargs < 3) { PyErr_SetString(PyExc_TypeError, "stage(buffer, max_bulk, *command)"); return NULL; }
    PyObject *buf = args[0];
    if (!PyByteArray_CheckExact(buf)) { PyErr_SetString(PyExc_TypeError, "stage: buffer must be a bytearray"); return NULL; }
    if (parse_max_bulk(args[1], &max_bulk) < 0) return NULL;
    enc_t e; enc_init(&e, max_bulk);
    batch_kind_t kind = {0, -1};
    PyObject *r = NULL;
    if (enc_command(&e, args + 2, nargs - 2, &kind) < 0) goto done;
    if (kind.blocking) { r = Py_NewRef(Py_False); goto done; }
    Py_ssize_t old = PyByteArray_GET_SIZE(buf);
    if (e.len > PY_SSIZE_T_MAX - old) { PyErr_NoMemory(); goto done; }
    // Fails with BufferError while submit_staged exports the buffer.
    if (PyByteArray_Resize(buf, old + e.len) < 0) goto done;
    memcpy(PyByteArray_AS_STRING(buf) + old, e.buf, e.len);
    r = Py_NewRef(Py_True);
done:
    enc_free(&e);
    return r;
}

// submit_staged(handle, queue, tag, wait, buffer, n) -> what submit_many
// returns: the n commands staged on buffer as one request. The engine copies
// them before this returns; the buffer is exported meanwhile, so nothing can
// resize it while the GIL is released for a wait.
PyObject *py_submit_staged(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    uint64_t h, qh, tag;
    if (nargs != 6) { PyErr_SetString(PyExc_TypeError, "submit_staged(handle, queue, tag, wait, buffer, n)"); return NULL; }
    if (cp_bridge_ready() < 0 || cp_bridge_handle(args[0], &h) < 0 || cp_bridge_handle(args[1], &qh) < 0 ||
        cp_bridge_handle(args[2], &tag) < 0) return NULL;
    int wait = PyObject_IsTrue(args[3]);
    if (wait < 0) return NULL;
    if (!PyByteArray_CheckExact(args[4])) { PyErr_SetString(PyExc_TypeError, "submit_staged: buffer must be a bytearray"); return NULL; }
    long long n = PyLong_AsLongLong(args[5]);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n <= 0) { PyErr_SetString(PyExc_ValueError, "submit_staged: n must be positive"); return NULL; }
    Py_buffer view;
    if (PyObject_GetBuffer(args[4], &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len == 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "submit_staged: nothing staged");
        return NULL;
    }
    enc_t e = {.buf = view.buf, .len = view.len};
    batch_kind_t kind = {0, -1};
    char err[CP_BRIDGE_ERRCAP];
    int status = cp_bridge_submit_encoded(h, qh, &e, n, tag, 1, 0, -1, wait, err);
    PyObject *r = cp_bridge_submit_result(status, &e, n, 1, &kind, err);
    PyBuffer_Release(&view);
    return r;
}
