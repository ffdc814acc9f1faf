package engine

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Interrupts. The host (CPython) runs signal handlers only in its main
// thread, and only when that thread comes back to it; the engine installs
// no handler of its own. So every wait of a caller whose Request has an
// Interrupt hook lasts at most interruptTick before the hook is asked, from
// the caller's own thread with no lock held. When it says yes:
//   - nothing of the request was sent (waiting to connect, for room, for a
//     connection to borrow): the request is simply dropped;
//   - it may be on the wire (writing, or waiting for its replies): the
//     connection is failed, so a blocked command (BLPOP ...) can never
//     later swallow an element and no reply can arrive out of step. Other
//     requests on it fail with errSharerInterrupted.

// ErrInterrupted is returned to the caller whose Interrupt hook said yes.
var ErrInterrupted = errors.New("interrupted by a signal")

// errSharerInterrupted fails the other requests of a connection that an
// interrupted caller had to close.
var errSharerInterrupted = &ConnError{errors.New("the connection was closed because another caller on it was interrupted by a signal")}

// sharedCause is the error a failure gives the other requests on the
// connection: an interruption is its own caller's business.
func sharedCause(err error) error {
	if err == ErrInterrupted {
		return errSharerInterrupted
	}
	return err
}

// interruptedNow asks r's hook; safe on a nil request or a nil hook. Only
// r's own caller calls it, so r.interrupted needs no lock.
func (r *Request) interruptedNow() bool {
	if r == nil || r.Interrupt == nil {
		return false
	}
	if r.Interrupt() {
		r.interrupted = true
		return true
	}
	return false
}

// sleep waits for r's wake-up; for an interruptible request at most one
// tick, and then reports whether a signal asks it to give up.
func (r *Request) sleep() bool {
	if r.OwnThread {
		tick := time.Duration(-1)
		if r.Interrupt != nil {
			tick = interruptTick
		}
		if r.park.wait(tick) || r.Interrupt == nil {
			return false
		}
		return r.interruptedNow()
	}
	if r.Interrupt == nil {
		<-r.wake
		return false
	}
	t := time.NewTimer(interruptTick)
	defer t.Stop()
	select {
	case <-r.wake:
		return false
	case <-t.C:
		return r.interruptedNow()
	}
}

// waitTick waits on cond (its lock held) until it is signalled or d
// passed; then, with the lock released, it asks req's Interrupt hook (if
// any) and returns ErrInterrupted when the hook says yes.
func waitTick(cond *sync.Cond, d time.Duration, req *Request) error {
	t := time.AfterFunc(d, func() {
		cond.L.Lock()
		cond.Broadcast()
		cond.L.Unlock()
	})
	cond.Wait()
	t.Stop()
	if req.Interrupt == nil {
		return nil
	}
	cond.L.Unlock()
	hit := req.interruptedNow()
	cond.L.Lock()
	if hit {
		return ErrInterrupted
	}
	return nil
}

// waitOrTick receives from ch, waiting at most d.
func waitOrTick[T any](ch <-chan T, d time.Duration) (T, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case v := <-ch:
		return v, true
	case <-t.C:
		var zero T
		return zero, false
	}
}

// stallCheck is what writeAll asks after a tick without progress. It
// lives on the writer's stack: no allocation per write.
type stallCheck struct {
	timeout time.Duration // the socket timeout; 0: none
	tick    time.Duration // the socket's SO_SNDTIMEO
	caller  *Request      // the writing caller's own request, or nil
}

// stalled returns nil to keep waiting, or the error to give up with.
// since is when the first tick without progress ended.
func (s *stallCheck) stalled(since int64) error {
	if s == nil {
		return ErrTimeout
	}
	if s.caller.interruptedNow() {
		return ErrInterrupted
	}
	if s.timeout > 0 && nanotime()-since+int64(s.tick) >= int64(s.timeout) {
		return ErrTimeout
	}
	return nil
}

// strayBytes is the protocol error for bytes that arrived when no request
// was waiting for a reply.
func strayBytes(b []byte) error {
	const show = 32
	shown := b
	if len(shown) > show {
		shown = shown[:show]
	}
	return protoErr("%d bytes arrived that no request asked for (%s); the connection was closed so they cannot become another command's reply", len(b), fmt.Sprintf("%q", shown))
}
