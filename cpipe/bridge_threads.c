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
// per request does not grow it for ever. GOMAXPROCS is only ever raised
// (lowering stops the world for nothing), up to cp_ensure_procs's cap, and
// never when the user set GOMAXPROCS in the environment.
#include "bridge_threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include "_cgo_export.h"

static pthread_key_t counted_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;
static atomic_int live;
static _Thread_local int counted;

static void thread_gone(void *unused) {
    (void)unused;
    atomic_fetch_sub(&live, 1);
}

static void make_key(void) { key_ok = pthread_key_create(&counted_key, thread_gone) == 0; }

void cp_thread_uses_engine(void) {
    if (counted) return;
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
