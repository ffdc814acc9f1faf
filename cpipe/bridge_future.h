// bridge_future.h: the state of a Pool's futures in C (bridge_future.c),
// and the staged-submission fast path that makes them (bridge_stage.c).
#ifndef CPIPE_BRIDGE_FUTURE_H
#define CPIPE_BRIDGE_FUTURE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// A new future of the class configure_futures() registered (RUNNING, not
// tracked by the GC), or NULL with an exception set.
PyObject *cp_future_new(void);

// Completes fut (a FutureCore) with value: an exception instance, or the reply.
// Returns 0, or -1 with an exception set (when waking its waiters failed).
int cp_future_resolve(PyObject *fut, PyObject *value);

// Adds FutureCore to the module; 0 or -1.
int cp_future_add_types(PyObject *module);

PyObject *cp_py_configure_futures(PyObject *self, PyObject *args);
PyObject *cp_py_resolve(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *cp_py_resolve_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#define CP_FUTURE_METHODS \
    {"configure_futures", cp_py_configure_futures, METH_VARARGS, "configure_futures(cls, RUNNING, FINISHED, Condition, wake, Future)"}, \
    {"resolve", (PyCFunction)(void (*)(void))cp_py_resolve, METH_FASTCALL, "resolve(fut, value): complete a FutureCore with a reply or an exception instance"}, \
    {"resolve_batch", (PyCFunction)(void (*)(void))cp_py_resolve_batch, METH_FASTCALL, "resolve_batch(items, replies, forgotten)"},

#endif
