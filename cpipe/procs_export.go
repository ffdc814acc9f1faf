package main

/*
#include <stdint.h>
*/
import "C"

import (
	"os"
	"runtime"
	"sync"
	"time"
)

// maxProcs caps what cp_ensure_procs sets: beyond it, a thread entering
// the engine may wait for a P again, which is slower but still correct.
const maxProcs = 256

var (
	procsMu sync.Mutex
	// The user's GOMAXPROCS, when set, is never overridden.
	procsFromEnv = os.Getenv("GOMAXPROCS") != ""
	// When GOMAXPROCS was last raised: it is not lowered within a second
	// of that, so threads that come and go at the boundary do not stop
	// the world on every change.
	procsRaised time.Time
)

// relaxAfter: how long GOMAXPROCS stays raised at least.
const relaxAfter = time.Second

// cp_ensure_procs raises GOMAXPROCS to threads + CPUs when it is below,
// once there are more threads than CPUs: bridge_threads.c calls it once for
// each thread that starts using the engine (the why is there). Up to one
// thread per CPU, Go's default stays: Ps beyond the CPUs made the engine's
// own goroutines (an asyncio client's readers) wake more threads, which cost
// asyncio 10-20% of its rate with 2 threads and 4 Ps.
//
//export cp_ensure_procs
func cp_ensure_procs(threads C.int) {
	cpus := runtime.NumCPU()
	if procsFromEnv || int(threads) <= cpus {
		return
	}
	want := min(int(threads)+cpus, maxProcs)
	procsMu.Lock()
	defer procsMu.Unlock()
	if runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
		procsRaised = time.Now()
	}
}

// cp_relax_procs puts GOMAXPROCS back to one P per CPU when no more threads
// than CPUs are left and it was raised at least relaxAfter ago; it returns
// how many nanoseconds to wait before asking again when the raise was more
// recent, else 0. bridge_threads.c calls it after a counted thread exits.
//
//export cp_relax_procs
func cp_relax_procs(threads C.int) C.int64_t {
	cpus := runtime.NumCPU()
	if procsFromEnv || int(threads) > cpus {
		return 0
	}
	procsMu.Lock()
	defer procsMu.Unlock()
	if runtime.GOMAXPROCS(0) <= cpus {
		return 0
	}
	if wait := relaxAfter - time.Since(procsRaised); wait > 0 {
		return C.int64_t(wait)
	}
	runtime.GOMAXPROCS(cpus)
	return 0
}

// cp_procs is the engine's GOMAXPROCS.
//
//export cp_procs
func cp_procs() C.int {
	return C.int(runtime.GOMAXPROCS(0))
}
