package engine

import (
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A parker puts one host thread to sleep in the kernel until another
// thread wakes it: a futex word on the Request.
//
// Why not a channel: a caller that came in from C (a Python thread in
// cp_exec) runs a goroutine locked to its own OS thread. Parked on a
// channel, its wake-up takes two thread switches: the waker readies it on
// its own P, an idle M is woken to take it, finds it locked to another
// thread, hands that thread the P and goes back to sleep. On a 2-core
// machine with 8 Python threads sharing connections this doubled the
// context switches per command. A futex wakes the sleeping thread itself,
// and it takes any idle P when it comes back (GOMAXPROCS follows the
// threads, procs_export.go).
//
// Only callers on their own thread use it: a goroutine blocked in a futex
// holds an OS thread, so the engine's own goroutines keep the channel.
type parker struct {
	// state: parkIdle, parkSleeping (a futex wait is or may be under way),
	// or parkWoken (a wake-up not yet consumed; one is kept, like a
	// channel's buffer of one).
	state atomic.Uint32
}

const (
	parkIdle uint32 = iota
	parkSleeping
	parkWoken
)

const (
	futexWaitPrivate = 0 | 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	futexWakePrivate = 1 | 128 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

// wake makes the sleeper's wait return, or the next wait return at once.
// The system call is made only when a thread is asleep.
func (p *parker) wake() {
	if p.state.Swap(parkWoken) == parkSleeping {
		syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&p.state)), futexWakePrivate, 1, 0, 0, 0)
	}
}

// wait sleeps until woken or, with d >= 0, until about d has passed;
// it reports whether it was woken. Spurious returns (a signal) report
// false, so callers re-check what they wait for.
func (p *parker) wait(d time.Duration) bool {
	if p.state.CompareAndSwap(parkWoken, parkIdle) {
		return true
	}
	if p.state.CompareAndSwap(parkIdle, parkSleeping) {
		var ts *syscall.Timespec
		if d >= 0 {
			t := syscall.NsecToTimespec(int64(d))
			ts = &t
		}
		// Returns at once if the state is no longer parkSleeping (the wake
		// came between the swap and here); syscall.Syscall6 releases the P
		// while the thread sleeps.
		syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&p.state)), futexWaitPrivate,
			uintptr(parkSleeping), uintptr(unsafe.Pointer(ts)), 0, 0)
	}
	if p.state.CompareAndSwap(parkWoken, parkIdle) {
		return true
	}
	p.state.CompareAndSwap(parkSleeping, parkIdle)
	return false
}
