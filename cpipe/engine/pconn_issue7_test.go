package engine

import (
	"errors"
	"net"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// Tests for the defects a hostile run found (issue 7): stray replies,
// interrupts, per-call timeouts, init errors.

// serveTwice answers "TWICE v" with +v twice: one reply nobody asked for,
// as SUBSCRIBE a b or a misbehaving proxy would send.
func serveTwice(sc *serverConn) {
	serveWith(func(sc *serverConn, args []string) (bool, bool) {
		if args[0] == "TWICE" {
			sc.w.WriteString("+" + args[1] + "\r\n+" + args[1] + "\r\n")
			return true, true
		}
		return false, true
	})(sc)
}

// Bytes left in the read buffer after the last awaited reply close the
// connection: the next caller gets its own reply, never the stray one.
func TestBugPConnStrayReplyIsNeverTheNextReply(t *testing.T) {
	srv := newFakeServer(t, serveTwice)
	c := newTestConn(t, srv, nil)
	within(t, 10*time.Second, "requests", func() {
		if got := doValues(t, c, cmd("TWICE", "a")); !reflect.DeepEqual(got, []any{simpleV("a")}) {
			t.Fatalf("TWICE a: %v", got)
		}
		for i := 0; i < 3; i++ {
			got := doValues(t, c, cmd("ECHO", "mine"), cmd("CONN"))
			if !reflect.DeepEqual(got, []any{bulkV("mine"), int64(2)}) {
				t.Fatalf("after a stray reply: %v, want [mine 2] on a new connection", got)
			}
		}
	})
}

// A stray reply that arrives on an idle connection, after its last reply
// and before the next request is sent, is noticed before that request is
// written: the request goes out on a new connection instead.
func TestBugPConnStrayReplyOnIdleConnection(t *testing.T) {
	srv := newFakeServer(t, serveWith(func(sc *serverConn, args []string) (bool, bool) {
		if args[0] == "LATER" { // +v now, and +v again 5 ms later
			sc.w.WriteString("+" + args[1] + "\r\n")
			sc.w.Flush()
			go func() {
				time.Sleep(5 * time.Millisecond)
				sc.Conn.Write([]byte("+" + args[1] + "\r\n"))
			}()
			return true, true
		}
		return false, true
	}))
	c := newTestConn(t, srv, nil)
	within(t, 10*time.Second, "requests", func() {
		for i := 0; i < 5; i++ {
			if got := doValues(t, c, cmd("LATER", "a")); !reflect.DeepEqual(got, []any{simpleV("a")}) {
				t.Fatalf("LATER a: %v", got)
			}
			time.Sleep(15 * time.Millisecond) // less than the old 50 ms idle check
			if got := doValues(t, c, cmd("ECHO", "mine")); !reflect.DeepEqual(got, []any{bulkV("mine")}) {
				t.Fatalf("after a late stray reply: %v, want [mine]", got)
			}
		}
	})
	if n := srv.accepts.Load(); n != 6 {
		t.Errorf("%d connections, want 6 (each stray reply closes one)", n)
	}
}

// An init command answered twice is a protocol error, not a reply to the
// first request.
func TestBugPConnStrayReplyAfterInit(t *testing.T) {
	srv := newFakeServer(t, serveTwice)
	c := newTestConn(t, srv, func(o *Options) {
		o.Init = cmd("TWICE", "init")
		o.InitCount = 1
	})
	within(t, 10*time.Second, "request", func() {
		err := c.Do(request(cmd("ECHO", "x")))
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Fatalf("Do: %v, want a ProtocolError", err)
		}
	})
}

// interruptAfter returns an Interrupt hook that says yes once d has passed,
// and the count of calls it had.
func interruptAfter(d time.Duration) (func() bool, *atomic.Int64) {
	at := time.Now().Add(d)
	calls := new(atomic.Int64)
	return func() bool {
		calls.Add(1)
		return time.Now().After(at)
	}, calls
}

// A caller waiting for a reply that never comes gives up soon after its
// Interrupt hook says so, and the connection is closed so its command can
// never later take anything.
func TestPConnInterruptWhileReading(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	for _, blocking := range []bool{false, true} {
		g := newTestGroup(t, srv, 1, false, func(o *Options) { o.SocketTimeout = 0 })
		within(t, 10*time.Second, "interrupt", func() {
			req := request(cmd("ECHO", "x"))
			hook, calls := interruptAfter(200 * time.Millisecond)
			req.Interrupt = hook
			start := time.Now()
			err := g.Do(req, blocking, -1)
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("blocking=%v: %v, want ErrInterrupted", blocking, err)
			}
			if d := time.Since(start); d > 200*time.Millisecond+4*interruptTick {
				t.Errorf("blocking=%v: interrupted after %v", blocking, d)
			}
			if calls.Load() < 2 {
				t.Errorf("hook asked %d times", calls.Load())
			}
		})
	}
	// Both connections were closed: the server sees them hang up.
	waitFor(t, 5*time.Second, "connections closed", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 0
	})
}

// Other callers on an interrupted connection fail with a ConnError that
// says why; the interrupted one gets ErrInterrupted.
func TestPConnInterruptFailsSharers(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	c := newTestConn(t, srv, func(o *Options) { o.SocketTimeout = 0 })
	within(t, 10*time.Second, "interrupt", func() {
		other := make(chan error, 1)
		go func() { other <- c.Do(request(cmd("ECHO", "other"))) }()
		time.Sleep(50 * time.Millisecond)
		req := request(cmd("ECHO", "x"))
		req.Interrupt, _ = interruptAfter(100 * time.Millisecond)
		if err := c.Do(req); !errors.Is(err, ErrInterrupted) {
			t.Fatalf("interrupted caller: %v", err)
		}
		err := <-other
		var ce *ConnError
		if !errors.As(err, &ce) || errors.Is(err, ErrInterrupted) {
			t.Fatalf("other caller: %v (%T), want a ConnError", err, err)
		}
	})
}

// Waiting to connect to a server that never accepts is interruptible too,
// and nothing is left half-connected.
func TestPConnInterruptWhileConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Fill the accept queue so a further connect hangs in SYN retries.
	var fill []net.Conn
	defer func() {
		for _, f := range fill {
			f.Close()
		}
	}()
	for i := 0; i < 512; i++ {
		f, err := net.DialTimeout("tcp", ln.Addr().String(), 50*time.Millisecond)
		if err != nil {
			break
		}
		fill = append(fill, f)
	}
	o := Options{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, ConnectTimeout: 20 * time.Second}
	c := NewPConn(&o)
	defer c.Close()
	within(t, 10*time.Second, "interrupt", func() {
		req := request(cmd("PING"))
		req.Interrupt, _ = interruptAfter(200 * time.Millisecond)
		start := time.Now()
		err := c.Do(req)
		if errors.Is(err, ErrInterrupted) {
			if d := time.Since(start); d > 200*time.Millisecond+4*interruptTick {
				t.Errorf("interrupted after %v", d)
			}
			return
		}
		if time.Since(start) < 150*time.Millisecond {
			t.Skipf("the connect did not hang here (%v): the kernel accepted it", err)
		}
		t.Fatalf("Do: %v, want ErrInterrupted", err)
	})
}

// Exclusive mode (a Client without autopipelining): callers queued for the
// one connection behind a stalled server each get ErrTimeout within the
// socket timeout of their own start, not one timeout after another.
func TestBugGroupQueuedCallersTimeOutTogether(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := newFakeServer(t, serveBlackhole)
	for _, autopipeline := range []bool{false, true} {
		g := newTestGroup(t, srv, 1, autopipeline, func(o *Options) { o.SocketTimeout = timeout })
		within(t, 10*time.Second, "timeouts", func() {
			type result struct {
				err error
				d   time.Duration
			}
			results := make(chan result, 8)
			for i := 0; i < 8; i++ {
				go func() {
					start := time.Now()
					err := g.Do(request(cmd("ECHO", "x")), false, 0)
					results <- result{err, time.Since(start)}
				}()
			}
			for i := 0; i < 8; i++ {
				r := <-results
				if !errors.Is(r.err, ErrTimeout) {
					t.Errorf("autopipeline=%v: %v, want ErrTimeout", autopipeline, r.err)
				}
				if r.d > timeout+timeout/2+interruptTick {
					t.Errorf("autopipeline=%v: timed out after %v (socket timeout %v)", autopipeline, r.d, timeout)
				}
			}
		})
	}
}

// The socket timeout fires on time even when it is not a whole number of
// ticks (the last tick is shortened).
func TestPConnTimeoutBetweenTicks(t *testing.T) {
	const timeout = 130 * time.Millisecond
	srv := newFakeServer(t, serveBlackhole)
	c := newTestConn(t, srv, func(o *Options) { o.SocketTimeout = timeout })
	within(t, 10*time.Second, "timeout", func() {
		start := time.Now()
		err := c.Do(request(cmd("ECHO", "x")))
		d := time.Since(start)
		if !errors.Is(err, ErrTimeout) || d < timeout || d > timeout+40*time.Millisecond {
			t.Errorf("%v after %v, want ErrTimeout after %v", err, d, timeout)
		}
	})
}

// Cancel reaches an asynchronous blocking command even before it has a
// connection (it is registered before its goroutine starts): the command
// is never sent, and its completion says it was cancelled.
func TestBugGroupCancelBeforeTheCommandHasAConnection(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	g := newTestGroup(t, srv, 1, true, func(o *Options) { o.SocketTimeout = 0 })
	q := NewCompletions(-1)
	within(t, 10*time.Second, "cancel", func() {
		for i := uint64(1); i <= 50; i++ {
			req := &Request{Data: cmd("BLPOP", "k", "0"), N: 1, ID: i}
			if err := g.Submit(req, q, true, -1, true); err != nil {
				t.Fatalf("Submit: %v", err)
			}
			if !g.Cancel(q, i) {
				t.Fatalf("Cancel(%d) found nothing", i)
			}
		}
		got := 0
		for got < 50 {
			for _, r := range q.Poll(time.Second) {
				if r.Err == nil {
					t.Errorf("request %d completed without error after Cancel", r.ID)
				}
				got++
			}
		}
	})
	if g.Cancel(q, 1) {
		t.Errorf("Cancel of a finished command found it")
	}
}
