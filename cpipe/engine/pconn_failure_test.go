package engine

import (
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Failures: the server hanging up, stalling or lying; timeouts; init commands;
// Close; and reproducers of engine bugs found by these tests.

// The server hangs up in the middle of a reply while several requests are
// in flight: every one of them fails, none hangs, and the next request
// reconnects.
func TestPConnServerClosesMidReply(t *testing.T) {
	const inflight = 8
	var received atomic.Int64
	srv := newFakeServer(t, func(sc *serverConn) {
		if sc.id > 1 {
			serveDefault(sc)
			return
		}
		// First connection: hold replies until all requests are in, answer
		// two, cut the third short and hang up.
		var names []string
		for len(names) < inflight {
			args, err := sc.readCommand()
			if err != nil {
				return
			}
			received.Add(1)
			names = append(names, args[1])
		}
		sc.bulk(names[0])
		sc.bulk(names[1])
		sc.w.WriteString("$100\r\n" + names[2][:2])
		sc.w.Flush()
	})
	c := newTestConn(t, srv, nil)
	type result struct {
		name string
		req  *Request
		err  error
	}
	results := make(chan result, inflight)
	for i := 0; i < inflight; i++ {
		name := fmt.Sprintf("req%d", i)
		req := request(cmd("ECHO", name))
		if i%2 == 0 {
			go func() { results <- result{name, req, c.Do(req)} }()
		} else {
			req.OnDone = func(r *Request) { results <- result{name, r, r.Err} }
			go func() {
				if err := c.Submit(req, true); err != nil {
					results <- result{name, req, err}
				}
			}()
		}
	}
	succeeded, failed := 0, 0
	within(t, 20*time.Second, "in-flight requests", func() {
		for i := 0; i < inflight; i++ {
			r := <-results
			if r.err == nil {
				succeeded++
				if got, _ := decodeTape(r.req.Tape.Buf); !reflect.DeepEqual(got, []any{bulkV(r.name)}) {
					t.Errorf("%s got %v", r.name, got)
				}
				continue
			}
			failed++
			var ce *ConnError
			if !errors.As(r.err, &ce) {
				t.Errorf("%s: %v (%T), want *ConnError", r.name, r.err, r.err)
			}
		}
	})
	if succeeded != 2 || failed != inflight-2 {
		t.Errorf("%d succeeded, %d failed; want 2 and %d", succeeded, failed, inflight-2)
	}
	within(t, 10*time.Second, "request after the hang-up", func() {
		if got := doValues(t, c, cmd("CONN")); got[0] != int64(2) {
			t.Errorf("answered by connection %v, want 2", got[0])
		}
	})
}

// A server that never answers: ErrTimeout after SocketTimeout, and the
// connection is dropped, never reused out of step.
func TestPConnTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := newFakeServer(t, func(sc *serverConn) {
		if sc.id == 1 {
			// Part of a reply, then silence; the rest would come too late.
			if _, err := sc.readCommand(); err != nil {
				return
			}
			sc.w.WriteString("$10\r\nabc")
			sc.w.Flush()
			time.Sleep(3 * timeout)
			sc.w.WriteString("defghij\r\n+STALE\r\n")
			sc.w.Flush()
			sc.waitClosed()
			return
		}
		serveDefault(sc)
	})
	c := newTestConn(t, srv, func(o *Options) { o.SocketTimeout = timeout })
	within(t, 10*time.Second, "timeouts", func() {
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			go func(i int) { errs <- c.Do(request(cmd("ECHO", strconv.Itoa(i)))) }(i)
		}
		start := time.Now()
		for i := 0; i < 4; i++ {
			if err := <-errs; !errors.Is(err, ErrTimeout) {
				t.Errorf("Do: %v, want ErrTimeout", err)
			}
		}
		if d := time.Since(start); d < timeout*9/10 || d > 10*timeout {
			t.Errorf("timed out after %v, SocketTimeout is %v", d, timeout)
		}
		time.Sleep(3 * timeout) // the stale bytes are sent by now
		for i := 0; i < 3; i++ {
			got := doValues(t, c, cmd("CONN"), cmd("ECHO", "fresh"))
			if !reflect.DeepEqual(got, []any{int64(2), bulkV("fresh")}) {
				t.Errorf("after a timeout: %v, want a fresh connection's replies", got)
			}
		}
	})
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestPConnMalformedReply(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	within(t, 10*time.Second, "requests", func() {
		doValues(t, c, cmd("PING"))
		err := c.Do(request(cmd("PING"), cmd("GARBAGE"), cmd("PING")))
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Fatalf("Do: %v (%T), want *ProtocolError", err, err)
		}
		if got := doValues(t, c, cmd("CONN")); got[0] != int64(2) {
			t.Errorf("answered by connection %v, want a new one (2)", got[0])
		}
	})
}

// Init commands run on every connect, including reconnects.
func TestPConnInitReplayedOnReconnect(t *testing.T) {
	srv := newFakeServer(t, nil)
	srv.needAuth.Store(true)
	c := newTestConn(t, srv, func(o *Options) {
		o.Init = append(cmd("AUTH", testPassword), cmd("SELECT", "0")...)
		o.InitCount = 2
	})
	within(t, 10*time.Second, "requests", func() {
		if got := doValues(t, c, cmd("ECHO", "one")); got[0] != bulkV("one") {
			t.Fatalf("got %v", got)
		}
		srv.closeConns()
		time.Sleep(20 * time.Millisecond)
		// The idle check finds the connection gone before anything is
		// sent, so this one goes out on a new connection.
		if got := doValues(t, c, cmd("ECHO", "again")); got[0] != bulkV("again") {
			t.Fatalf("after the server closed the idle connection: %v", got)
		}
		srv.closeConns()
		time.Sleep(20 * time.Millisecond)
		if got := doValues(t, c, cmd("ECHO", "two")); got[0] != bulkV("two") {
			t.Fatalf("after reconnect: %v (AUTH not replayed?)", got)
		}
	})
	if a, n := srv.auths.Load(), srv.accepts.Load(); a != 3 || n != 3 {
		t.Errorf("%d AUTH on %d connections, want 3 and 3", a, n)
	}
}

func TestPConnInitError(t *testing.T) {
	srv := newFakeServer(t, nil)
	srv.needAuth.Store(true)
	for _, tc := range []struct {
		name     string
		init     [][]byte
		wantM    string
		wantCmd  string
		wantAuth bool
		wantErr  string
	}{
		{"wrong password", [][]byte{cmd("AUTH", "wrong")}, "WRONGPASS invalid username-password pair", "AUTH", true,
			"WRONGPASS invalid username-password pair"},
		// Not an authentication failure: the error names the command, and
		// never a password.
		{"second init command fails", [][]byte{cmd("AUTH", testPassword), cmd("select", "99")}, "ERR DB index is out of range", "SELECT 99", false,
			"ERR DB index is out of range (reply to SELECT 99, sent while connecting)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.commands.Load()
			c := newTestConn(t, srv, func(o *Options) {
				o.Init = append([]byte(nil), bytesJoin(tc.init)...)
				o.InitCount = len(tc.init)
			})
			within(t, 10*time.Second, "requests", func() {
				for i := 0; i < 2; i++ { // every attempt reports it
					err := c.Do(request(cmd("ECHO", "x")))
					var ie *InitError
					if !errors.As(err, &ie) {
						t.Fatalf("Do: %v (%T), want *InitError", err, err)
					}
					if ie.Msg != tc.wantM || ie.Command != tc.wantCmd || ie.IsAuth() != tc.wantAuth || err.Error() != tc.wantErr {
						t.Errorf("InitError %q (command %q, auth %v): %q; want %q, %q, %v: %q",
							ie.Msg, ie.Command, ie.IsAuth(), err.Error(), tc.wantM, tc.wantCmd, tc.wantAuth, tc.wantErr)
					}
				}
				if err := c.Submit(&Request{Data: cmd("ECHO", "x"), N: 1, OnDone: func(*Request) {}}, true); err == nil {
					t.Errorf("Submit with a failing init succeeded")
				}
			})
			// Only init commands reached the server, never the request.
			if got := srv.commands.Load() - before; got != int64(3*len(tc.init)) {
				t.Errorf("server read %d commands, want %d (init only)", got, 3*len(tc.init))
			}
		})
	}
}

func bytesJoin(bs [][]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// Close fails every pending request with ErrClosed, and later work too.
func TestPConnClose(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	o := srv.options()
	c := NewPConn(&o)
	const syncN, asyncN = 10, 5
	errs := make(chan error, syncN+asyncN)
	for i := 0; i < syncN; i++ {
		go func() { errs <- c.Do(request(cmd("PING"))) }()
	}
	for i := 0; i < asyncN; i++ {
		go func() {
			req := &Request{Data: cmd("PING"), N: 1, OnDone: func(r *Request) { errs <- r.Err }}
			if err := c.Submit(req, true); err != nil {
				errs <- err
			}
		}()
	}
	waitFor(t, 10*time.Second, "the server to read every command", func() bool { return srv.commands.Load() == syncN+asyncN })
	within(t, 10*time.Second, "Close", c.Close)
	within(t, 10*time.Second, "failing pending work", func() {
		for i := 0; i < syncN+asyncN; i++ {
			if err := <-errs; !errors.Is(err, ErrClosed) {
				t.Errorf("pending request: %v, want ErrClosed", err)
			}
		}
	})
	if err := c.Do(request(cmd("PING"))); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v", err)
	}
	if err := c.Submit(&Request{Data: cmd("PING"), N: 1, OnDone: func(*Request) {}}, true); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v", err)
	}
	c.Close() // twice is fine
}

// A caller waiting for queue room is released by Close.
func TestPConnCloseReleasesQueueWaiter(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	o := srv.options()
	o.MaxQueued = 1
	o.SocketTimeout = 0 // no timeouts: only Close can end the waits
	c := NewPConn(&o)
	errs := make(chan error, 2)
	go func() { errs <- c.Do(request(cmd("PING"))) }()
	waitFor(t, 10*time.Second, "the first request", func() bool { return srv.commands.Load() == 1 })
	go func() { errs <- c.Do(request(cmd("PING"))) }()
	time.Sleep(20 * time.Millisecond) // let it reach the wait for room
	within(t, 10*time.Second, "Close", c.Close)
	within(t, 10*time.Second, "waiters", func() {
		for i := 0; i < 2; i++ {
			if err := <-errs; !errors.Is(err, ErrClosed) {
				t.Errorf("got %v, want ErrClosed", err)
			}
		}
	})
}

// ReadTimeout stretches the wait for one request's replies (blocking
// commands) beyond SocketTimeout.
func TestPConnReadTimeout(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, func(o *Options) { o.SocketTimeout = 150 * time.Millisecond })
	within(t, 10*time.Second, "requests", func() {
		req := request(cmd("SLEEP", "400", "late"))
		req.ReadTimeout = 2 * time.Second
		if err := c.Do(req); err != nil {
			t.Fatalf("with ReadTimeout: %v", err)
		}
		req = request(cmd("SLEEP", "300", "late"))
		req.ReadTimeout = -1 // forever
		if err := c.Do(req); err != nil {
			t.Fatalf("with ReadTimeout -1: %v", err)
		}
		// The socket timeout is back for ordinary requests.
		if err := c.Do(request(cmd("SLEEP", "400", "late"))); !errors.Is(err, ErrTimeout) {
			t.Fatalf("without ReadTimeout: %v, want ErrTimeout", err)
		}
	})
}

// ---------------------------------------------------------------------------
// Engine bugs. These crash the process, so each runs in a child process.

// Close (or a failed write) can fail the connection while the reading role
// is between the socket and its lock, scanning a reply that is already
// buffered. readLocked then takes the lock and does c.queue[0] = nil on the
// queue failLocked emptied: index out of range, and the request would be
// completed twice.
func TestBugPConnCloseWhileScanningReply(t *testing.T) {
	if !inChild(t, 30*time.Second) {
		return
	}
	srv := newFakeServer(t, nil)
	o := srv.options()
	c := NewPConn(&o)
	doValues(t, c, cmd("PING"))

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	req := request(cmd("ECHO", "slow to scan"))
	req.Tape.Grow = func(old []byte, newCap int) []byte {
		once.Do(func() { close(entered); <-release })
		nb := make([]byte, len(old), newCap)
		copy(nb, old)
		return nb
	}
	doErr := make(chan error, 1)
	go func() { doErr <- c.Do(req) }()
	<-entered // the reply is in and being scanned, the lock is free
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	waitFor(t, 10*time.Second, "Close to fail the queue", func() bool { return c.Queued() == 0 })
	close(release)
	within(t, 10*time.Second, "Do", func() {
		if err := <-doErr; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Do: %v, want nil or ErrClosed", err)
		}
	})
	within(t, 10*time.Second, "Close", func() { <-closed })
}

// After a write of at least bigWrite bytes goes to writeBatchInBackground,
// c.spare still aliases the array c.pending was set to, and the goroutine
// never resets it (the clear/spare lines after writeBatch are skipped on
// that path). Its next writeLocked takes batch := c.pending and sets
// c.pending = c.spare[:0] -- the same array -- so a request queued during
// that write overwrites batch[0], and clear(batch) then wipes it from
// pending: the request is lost or the writer dereferences nil.
func TestBugPConnPendingAliasesBatch(t *testing.T) {
	if !inChild(t, 60*time.Second) {
		return
	}
	var budget atomic.Int64
	srv := newFakeServer(t, func(sc *serverConn) {
		// A fixed small receive buffer (no autotuning), so 16 MiB cannot
		// sit in the kernel while the server is not reading.
		sc.Conn.(*net.TCPConn).SetReadBuffer(64 << 10)
		sc.r.Reset(&gatedReader{r: sc.Conn, budget: &budget})
		serveDefault(sc)
	})
	o := srv.options()
	o.SocketTimeout = 30 * time.Second
	c := NewPConn(&o)
	defer c.Close()

	ping := cmd("PING")
	budget.Store(int64(len(ping)))
	doValues(t, c, ping) // leaves c.spare holding a 1-slot array

	big := strings.Repeat("b", 16<<20) // far beyond the socket buffers
	x := request(cmd("SINK", big))
	y := request(cmd("SINK", big))
	z := request(cmd("ECHO", "z"))
	errs := make(chan error, 3)
	go func() { errs <- c.Do(x) }() // written by writeBatchInBackground, blocks
	waitFor(t, 10*time.Second, "x queued", func() bool { return c.Queued() == 1 })
	go func() { errs <- c.Do(y) }() // pending behind x, in the aliased array
	waitFor(t, 10*time.Second, "y queued", func() bool { return c.Queued() == 2 })

	budget.Add(int64(len(x.Data))) // the server takes x and answers it
	within(t, 20*time.Second, "x", func() {
		if err := <-errs; err != nil {
			t.Errorf("x: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "the writer to take y", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending) == 0 && len(c.queue) == 1 && c.writing
	})
	go func() { errs <- c.Do(z) }() // appended while y is being written
	waitFor(t, 10*time.Second, "z queued", func() bool { return c.Queued() == 2 })
	budget.Store(1 << 62)
	within(t, 20*time.Second, "y and z", func() {
		for i := 0; i < 2; i++ {
			if err := <-errs; err != nil {
				t.Errorf("Do: %v", err)
			}
		}
	})
	if got, _ := decodeTape(z.Tape.Buf); !reflect.DeepEqual(got, []any{bulkV("z")}) {
		t.Errorf("z got %v", got)
	}
}

// A server that stops reading: the write times out after SocketTimeout and
// the connection is replaced, for Do and for Submit.
func TestPConnWriteTimeout(t *testing.T) {
	srv := newFakeServer(t, func(sc *serverConn) {
		if sc.id <= 2 {
			sc.Conn.(*net.TCPConn).SetReadBuffer(64 << 10)
			<-sc.srv.closed // never reads
			return
		}
		serveDefault(sc)
	})
	c := newTestConn(t, srv, func(o *Options) { o.SocketTimeout = 200 * time.Millisecond })
	big := cmd("SINK", strings.Repeat("w", 16<<20))
	within(t, 10*time.Second, "requests", func() {
		for _, async := range []bool{false, true} {
			start := time.Now()
			req := &Request{Data: big, N: 1}
			var err error
			if async {
				done := make(chan struct{})
				req.OnDone = func(*Request) { close(done) }
				if err = c.Submit(req, true); err == nil {
					<-done
					err = req.Err
				}
			} else {
				err = c.Do(req)
			}
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("async=%v: %v, want ErrTimeout", async, err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("async=%v: took %v with a 200ms socket timeout", async, d)
			}
		}
		if got := doValues(t, c, cmd("CONN")); got[0] != int64(3) {
			t.Errorf("answered by connection %v, want 3", got[0])
		}
	})
}

// throttledReader lets through at most chunk bytes per period: a server
// that reads steadily but slowly.
type throttledReader struct {
	r      io.Reader
	chunk  int
	period time.Duration
	left   int
}

func (tr *throttledReader) Read(p []byte) (int, error) {
	if tr.left == 0 {
		time.Sleep(tr.period)
		tr.left = tr.chunk
	}
	if len(p) > tr.left {
		p = p[:tr.left]
	}
	n, err := tr.r.Read(p)
	tr.left -= n
	return n, err
}

// SocketTimeout bounds each wait for the server, but the reader starts
// waiting for a request's reply while the request is still being written.
// A request whose upload takes longer than SocketTimeout fails with
// ErrTimeout although every write made progress and the server answers
// promptly once it has the request (a client that writes, then reads, as
// redis-py does, succeeds here).
func TestBugPConnReadTimesOutWhileStillWriting(t *testing.T) {
	srv := newFakeServer(t, func(sc *serverConn) {
		sc.Conn.(*net.TCPConn).SetReadBuffer(64 << 10)
		sc.r.Reset(&throttledReader{r: sc.Conn, chunk: 512 << 10, period: 10 * time.Millisecond})
		serveDefault(sc)
	})
	const timeout = 300 * time.Millisecond
	c := newTestConn(t, srv, func(o *Options) { o.SocketTimeout = timeout })
	data := cmd("SINK", strings.Repeat("u", 32<<20)) // about 640ms at 50 MB/s
	// Control: write everything, each write bounded by the timeout, then
	// read the reply, also bounded by it.
	var controlErr error
	within(t, 20*time.Second, "control client", func() {
		o := srv.options()
		nc, err := net.Dial("tcp", o.Addr())
		if err != nil {
			controlErr = err
			return
		}
		defer nc.Close()
		for p := data; len(p) > 0; {
			k := min(len(p), 64<<10)
			nc.SetWriteDeadline(time.Now().Add(timeout))
			if _, err := nc.Write(p[:k]); err != nil {
				controlErr = err
				return
			}
			p = p[k:]
		}
		nc.SetReadDeadline(time.Now().Add(timeout))
		reply := make([]byte, 5)
		if _, err := io.ReadFull(nc, reply); err != nil || string(reply) != "+OK\r\n" {
			controlErr = fmt.Errorf("reply %q: %v", reply, err)
		}
	})
	if controlErr != nil {
		t.Skipf("the write-then-read control failed too (%v): machine too slow to judge", controlErr)
	}
	within(t, 20*time.Second, "request", func() {
		start := time.Now()
		err := c.Do(&Request{Data: data, N: 1})
		if err != nil {
			t.Errorf("engine bug: %d-byte request to a server reading 50 MB/s: %v after %v (SocketTimeout %v; no single wait exceeded it)",
				len(data), err, time.Since(start).Round(time.Millisecond), timeout)
		}
	})
}

func TestOptionsAddr(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Host: "127.0.0.1", Port: 6379}, "127.0.0.1:6379"},
		{Options{Host: "::1", Port: 7000}, "[::1]:7000"},
		{Options{Host: "localhost", Port: 1, UnixPath: "/tmp/r.sock"}, "unix:/tmp/r.sock"},
	} {
		if got := tc.o.Addr(); got != tc.want {
			t.Errorf("Addr() = %q, want %q", got, tc.want)
		}
	}
	if (&Options{}).maxQueued() != DefaultMaxQueued || (&Options{MaxQueued: 3}).maxQueued() != 3 {
		t.Error("maxQueued default")
	}
}
