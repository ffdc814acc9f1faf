package engine

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

// A wake-up that comes before the wait is kept for it, like a channel's
// buffer of one; only one is kept.
func TestParkerKeepsOneEarlyWake(t *testing.T) {
	var p parker
	p.wake()
	p.wake()
	if !p.wait(0) {
		t.Fatal("the early wake-up was lost")
	}
	if p.wait(10 * time.Millisecond) {
		t.Fatal("a second wake-up was kept")
	}
}

// A timed wait with no wake-up returns false after about its time, and
// leaves no wake-up behind.
func TestParkerTimedWait(t *testing.T) {
	var p parker
	start := time.Now()
	if p.wait(30 * time.Millisecond) {
		t.Fatal("woken with nobody waking")
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
		t.Fatalf("a 30 ms wait took %v", d)
	}
	if got := p.state.Load(); got != parkIdle {
		t.Fatalf("state %d after a timed-out wait", got)
	}
}

// A thread asleep in the kernel is woken by another thread.
func TestParkerWakesASleepingThread(t *testing.T) {
	for i := 0; i < 200; i++ {
		var p parker
		done := make(chan bool)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			done <- p.wait(-1)
		}()
		if i%2 == 0 {
			time.Sleep(100 * time.Microsecond) // sometimes asleep first, sometimes not yet
		}
		p.wake()
		select {
		case ok := <-done:
			if !ok {
				t.Fatalf("round %d: the wait returned without the wake-up", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the wake-up was lost", i)
		}
	}
}

// Callers on threads of their own (OwnThread, as cp_exec's are) share one
// connection with goroutine callers: each gets its own replies, whoever
// reads them and whoever wakes whom.
func TestPConnOwnThreadCallersShareAConnection(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	echoesFromCallers(t, c, 24, 200, func(g int) bool { return g%3 != 0 })
}

// An OwnThread caller's wait is still interruptible: it sleeps in ticks
// and asks its hook between them.
func TestPConnOwnThreadInterruptible(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	c := newTestConn(t, srv, func(o *Options) { o.SocketTimeout = 0 })
	within(t, 10*time.Second, "interrupt", func() {
		other := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			req := request(cmd("ECHO", "other"))
			req.OwnThread = true
			other <- c.Do(req)
		}()
		time.Sleep(50 * time.Millisecond)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		req := request(cmd("ECHO", "x"))
		req.OwnThread = true
		hook, calls := interruptAfter(150 * time.Millisecond)
		req.Interrupt = hook
		start := time.Now()
		if err := c.Do(req); !errors.Is(err, ErrInterrupted) {
			t.Fatalf("interrupted caller: %v", err)
		}
		if d := time.Since(start); d > 150*time.Millisecond+4*interruptTick {
			t.Errorf("interrupted after %v", d)
		}
		if calls.Load() < 2 {
			t.Errorf("hook asked %d times", calls.Load())
		}
		var ce *ConnError
		if err := <-other; !errors.As(err, &ce) {
			t.Fatalf("other caller: %v (%T), want a ConnError", err, err)
		}
	})
}
