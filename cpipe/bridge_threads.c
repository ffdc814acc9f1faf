// bridge_threads.c: keep GOMAXPROCS at least the number of Python threads
// that use the engine, plus the CPUs.
//
// Why: a C thread runs its calls into Go on one of GOMAXPROCS Ps, and when
// the call returns the thread keeps that P (in the syscall state) while it
// runs Python code or waits for the GIL, until it calls Go again or Go's
// sysmon takes the P back, 20 µs to 10 ms later. With Go's default (one P
// per CPU: 2 here), 8 Python threads doing single commands through one Pool
// spent most of their time waiting for a P and handing it over (two context
// switches per hand-over): 30k HSET/s, against 60-70k/s with 16 Ps
// (bench/profiles/README.md). So once more threads than CPUs have called
// it, the engine keeps a P per live thread, plus one per CPU for its own
// goroutines (up to one thread per CPU, Go's default is kept: see
// cp_ensure_procs). A live count, not a total: a thread's exit gives its
// place back (a pthread key's destructor), so a server that starts a thread
// per request does not grow it for ever. When the threads are gone, Go's
// default comes back (cp_relax_procs: at most once a second, since each
// change stops the world), and nothing changes when the user set
// GOMAXPROCS in the environment.
#include "bridge_threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "_cgo_export.h"

static pthread_key_t counted_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;
static atomic_int live;
static _Thread_local int counted;
// Set when the count falls back to the CPUs or below: the next call by a
// counted thread asks Go to go back to its default (cp_relax_procs decides
// whether it is time). Not from the exiting thread itself: Go's own
// per-thread destructor may already have run there.
static atomic_int may_relax;
static _Atomic int64_t relax_not_before;  // CLOCK_MONOTONIC ns; Go asked to wait until then

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void thread_gone(void *unused) {
    (void)unused;
    atomic_fetch_sub(&live, 1);
    atomic_store(&may_relax, 1);
}

static void make_key(void) { key_ok = pthread_key_create(&counted_key, thread_gone) == 0; }

void cp_thread_uses_engine(void) {
    if (counted) {
        if (atomic_load_explicit(&may_relax, memory_order_relaxed) && now_ns() >= atomic_load(&relax_not_before) &&
            atomic_exchange(&may_relax, 0)) {
            int64_t wait = cp_relax_procs(atomic_load(&live));
            if (wait > 0) {  // raised too recently: ask again then
                atomic_store(&relax_not_before, now_ns() + wait);
                atomic_store(&may_relax, 1);
            }
        }
        return;
    }
    counted = 1;
    pthread_once(&key_once, make_key);
    // Without a key the thread is still counted, only never given back.
    if (key_ok) pthread_setspecific(counted_key, (void *)1);
    int n = atomic_fetch_add(&live, 1) + 1;
    cp_ensure_procs(n);
}

// engine_threads() -> (threads counted and alive, the engine's GOMAXPROCS): for tests.
PyObject *py_engine_threads(PyObject *self, PyObject *unused) {
    (void)self; (void)unused;
    return Py_BuildValue("(ii)", atomic_load(&live), (int)cp_procs());
}

// Called by the engine, in the thread that called cp_exec/cp_submit with
// interruptible set, with the GIL released and no engine lock held: runs
// pending signal handlers. A handler's exception (KeyboardInterrupt) stays
// set in this thread's state for the entry point to return.
int cp_bridge_interrupted(void) {
    PyGILState_STATE s = PyGILState_Ensure();
    int raised = PyErr_CheckSignals() < 0;
    PyGILState_Release(s);
    return raised;
}
