// bridge_hot.h: a client's hot command methods in C (bridge_hot.c), for cpipe.Redis.
#ifndef CPIPE_BRIDGE_HOT_H
#define CPIPE_BRIDGE_HOT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *py_client_method(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#define CP_HOT_METHODS \
    {"client_method", (PyCFunction)(void (*)(void))py_client_method, METH_FASTCALL, "client_method(name, nmin, nmax, fallback, find_callback, cmd) -> a client's hot method in C"},

#endif
