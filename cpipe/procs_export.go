package main

/*
#include <stdint.h>
*/
import "C"

import (
	"os"
	"runtime"
	"sync"
)

// maxProcs caps what cp_ensure_procs sets: beyond it, a thread entering
// the engine may wait for a P again, which is slower but still correct.
const maxProcs = 256

var (
	procsMu sync.Mutex
	// The user's GOMAXPROCS, when set, is never overridden.
	procsFromEnv = os.Getenv("GOMAXPROCS") != ""
)

// cp_ensure_procs raises GOMAXPROCS to threads + CPUs when it is below:
// bridge_threads.c calls it once for each thread that starts using the
// engine (the why is there).
//
//export cp_ensure_procs
func cp_ensure_procs(threads C.int) {
	if procsFromEnv {
		return
	}
	want := min(int(threads)+runtime.NumCPU(), maxProcs)
	procsMu.Lock()
	defer procsMu.Unlock()
	if runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}

// cp_procs is the engine's GOMAXPROCS.
//
//export cp_procs
func cp_procs() C.int {
	return C.int(runtime.GOMAXPROCS(0))
}
