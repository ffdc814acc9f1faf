package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Options.ConnectOnce: a connection that was up and is lost is never
// replaced, so state the server keeps per connection (WATCH) cannot vanish
// behind a silent reconnect.

func (s *fakeServer) addr() string {
	o := s.options()
	return o.Addr()
}

// wantNotReplaced checks that err is the ConnectOnce refusal: a ConnError
// naming the server and why the connection was lost.
func wantNotReplaced(t *testing.T, err error, addr, cause string) {
	t.Helper()
	var ce *ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want a *ConnError", err, err)
	}
	for _, part := range []string{addr, "not replaced", cause} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not say %q", err, part)
		}
	}
}

// The server drops the connection between two commands (CLIENT KILL, a
// restart): with ConnectOnce the second command fails and nothing is
// dialled; without it, the same sequence reconnects (the contrast shows
// the test sees a reconnect when one happens).
func TestPConnConnectOnceIdleConnectionKilled(t *testing.T) {
	for _, once := range []bool{true, false} {
		srv := newFakeServer(t, nil)
		c := newTestConn(t, srv, func(o *Options) { o.ConnectOnce = once })
		within(t, 10*time.Second, "requests", func() {
			if got := doValues(t, c, cmd("ECHO", "watched")); got[0] != bulkV("watched") {
				t.Fatalf("got %v", got)
			}
			srv.closeConns()
			time.Sleep(20 * time.Millisecond) // past idlePeekAfter: the next request peeks first
			for i := 0; i < 3; i++ {          // every later request gets the same answer
				err := c.Do(request(cmd("ECHO", "after the kill")))
				if !once {
					if err != nil {
						t.Fatalf("without ConnectOnce: %v, want a reconnect", err)
					}
					break
				}
				wantNotReplaced(t, err, srv.addr(), "the server closed the idle connection")
			}
		})
		wantAccepts, wantCommands := int64(1), int64(1)
		if !once {
			wantAccepts, wantCommands = 2, 2
		}
		if n, m := srv.accepts.Load(), srv.commands.Load(); n != wantAccepts || m != wantCommands {
			t.Errorf("ConnectOnce=%v: %d connections and %d commands reached the server, want %d and %d",
				once, n, m, wantAccepts, wantCommands)
		}
	}
}

// The connection fails while a request is on it: that request fails as
// on any connection, asynchronous work too, and so does everything after.
func TestPConnConnectOnceFailedInFlight(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, func(o *Options) { o.ConnectOnce = true })
	within(t, 10*time.Second, "requests", func() {
		doValues(t, c, cmd("PING"))
		var ce *ConnError
		if err := c.Do(request(cmd("CLOSE"))); !errors.As(err, &ce) {
			t.Fatalf("the request the server hung up on: %v (%T), want a *ConnError", err, err)
		}
		wantNotReplaced(t, c.Do(request(cmd("PING"))), srv.addr(), "the server closed the connection")
		// Submit without waiting would have to connect: it says so, and
		// when allowed to wait it gets the refusal, queueing nothing.
		async := &Request{Data: cmd("PING"), N: 1, OnDone: func(*Request) { t.Error("a refused Submit completed") }}
		if err := c.Submit(async, false); err != ErrWouldBlock {
			t.Errorf("Submit(mayBlock=false): %v, want ErrWouldBlock", err)
		}
		wantNotReplaced(t, c.Submit(async, true), srv.addr(), "the server closed the connection")
	})
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if c.fd != nil {
		t.Errorf("the lost connection's socket %d is still open", c.fd.fd)
	}
}

// Until a connect has succeeded there is no state to lose: a failed first
// connect (here its AUTH) is tried again by the next request.
func TestPConnConnectOnceRetriesFailedFirstConnect(t *testing.T) {
	srv := newFakeServer(t, nil)
	srv.needAuth.Store(true)
	c := newTestConn(t, srv, func(o *Options) {
		o.ConnectOnce = true
		o.Init = cmd("AUTH", "wrong")
		o.InitCount = 1
	})
	within(t, 10*time.Second, "requests", func() {
		for i := 0; i < 2; i++ {
			var ie *InitError
			if err := c.Do(request(cmd("PING"))); !errors.As(err, &ie) {
				t.Fatalf("attempt %d: %v (%T), want the *InitError of its own connect", i, err, err)
			}
		}
	})
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one per attempt)", n)
	}
}

// A client of one connection without autopipelining, as a WATCH pipeline
// uses: synchronous and asynchronous commands both get the refusal once
// its connection is lost.
func TestGroupConnectOnce(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 1, false, func(o *Options) { o.ConnectOnce = true })
	within(t, 20*time.Second, "requests", func() {
		if err := g.Do(request(cmd("PING")), false, 0); err != nil {
			t.Fatalf("Do: %v", err)
		}
		srv.closeConns()
		time.Sleep(20 * time.Millisecond)
		wantNotReplaced(t, g.Do(request(cmd("PING")), false, 0), srv.addr(), "closed the idle connection")
		wantNotReplaced(t, g.Do(request(cmd("PING")), true, time.Second), srv.addr(), "closed the idle connection")
		q := NewCompletions(-1)
		defer q.Close()
		if err := g.Submit(&Request{Data: cmd("PING"), N: 1, ID: 7}, q, false, 0, true); err != nil {
			t.Fatalf("Submit: %v", err)
		}
		done := pollAll(t, q, 1, 5*time.Second)
		if len(done) != 1 {
			t.Fatalf("%d completions, want 1", len(done))
		}
		wantNotReplaced(t, done[0].Err, srv.addr(), "closed the idle connection")
	})
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// A blocking command on a connect-once client runs on its connection, the
// one that holds the WATCH, with its read timeout stretched as on a side
// connection.
func TestGroupConnectOnceBlockingOnItsConnection(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 1, false, func(o *Options) {
		o.ConnectOnce = true
		o.SocketTimeout = 150 * time.Millisecond
	})
	within(t, 10*time.Second, "requests", func() {
		for _, blocking := range []bool{false, true} {
			req := request(cmd("CONN"))
			if err := g.Do(req, blocking, time.Second); err != nil {
				t.Fatalf("Do(blocking=%v): %v", blocking, err)
			}
			if got := mustDecode(t, req.Tape.Buf); got[0] != int64(1) {
				t.Errorf("blocking=%v: answered by connection %v, want 1", blocking, got[0])
			}
		}
		// Longer than the socket timeout, within it plus the block time.
		if err := g.Do(request(cmd("SLEEP", "300", "x")), true, 400*time.Millisecond); err != nil {
			t.Errorf("blocking Do past the socket timeout: %v", err)
		}
	})
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// Asynchronous blocking commands keep their side connections (Cancel closes
// those); one that failed is dropped, not kept to refuse the next.
func TestGroupConnectOnceAsyncBlockingSideConnections(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 1, false, func(o *Options) { o.ConnectOnce = true })
	q := NewCompletions(-1)
	defer q.Close()
	within(t, 20*time.Second, "requests", func() {
		for i, c := range [][]byte{cmd("CLOSE"), cmd("SLEEP", "1", "x")} {
			if err := g.Submit(&Request{Data: c, N: 1, ID: uint64(i)}, q, true, time.Second, true); err != nil {
				t.Fatalf("Submit: %v", err)
			}
			done := pollAll(t, q, 1, 5*time.Second)
			var ce *ConnError
			if i == 0 && !errors.As(done[0].Err, &ce) {
				t.Fatalf("blocking command the server hung up on: %v (%T), want a *ConnError", done[0].Err, done[0].Err)
			}
			if i == 1 && done[0].Err != nil {
				t.Errorf("the next blocking command: %v, want it on a new side connection", done[0].Err)
			}
		}
	})
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want 2 side connections", n)
	}
}
