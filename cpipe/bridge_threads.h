// bridge_threads.h: one Go P per Python thread that uses the engine
// (bridge_threads.c).
#ifndef CPIPE_BRIDGE_THREADS_H
#define CPIPE_BRIDGE_THREADS_H

#include <Python.h>

// Counts the calling thread once, the first time it reaches the engine, and
// has the engine raise GOMAXPROCS to match. Nearly free after the first call.
void cp_thread_uses_engine(void);

PyObject *py_engine_threads(PyObject *self, PyObject *unused);

#define CP_THREADS_METHODS \
    {"engine_threads", (PyCFunction)py_engine_threads, METH_NOARGS, "engine_threads() -> (live threads counted, GOMAXPROCS)"},

#endif
