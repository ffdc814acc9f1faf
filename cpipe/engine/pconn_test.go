package engine

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestConn(t testing.TB, srv *fakeServer, mod func(*Options)) *PConn {
	t.Helper()
	o := srv.options()
	if mod != nil {
		mod(&o)
	}
	c := NewPConn(&o)
	t.Cleanup(c.Close)
	return c
}

// doValues runs one request and decodes its replies.
func doValues(t testing.TB, c *PConn, commands ...[]byte) []any {
	t.Helper()
	req := request(commands...)
	if err := c.Do(req); err != nil {
		t.Fatalf("Do: %v", err)
	}
	v := mustDecode(t, req.Tape.Buf)
	if len(v) != req.N {
		t.Fatalf("%d commands, %d replies", req.N, len(v))
	}
	return v
}

func TestPConnSingleRequests(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	within(t, 20*time.Second, "requests", func() {
		for _, tc := range []struct {
			cmd  []byte
			want any
		}{
			{cmd("PING"), simpleV("PONG")},
			{cmd("ECHO", "hello"), bulkV("hello")},
			{cmd("ECHO", ""), bulkV("")},
			{cmd("ECHO", allBytes()), bulkV(allBytes())},
			{cmd("ECHO", "a\r\nb"), bulkV("a\r\nb")},
			{cmd("INT", "-9223372036854775808"), int64(-9223372036854775808)},
			{cmd("NIL"), nil},
			{cmd("ERR", "boom"), errV("ERR boom")},
			{cmd("NOSUCH"), errV("ERR unknown command 'NOSUCH'")},
			{cmd("ARR", "x", "y"), []any{bulkV("x"), bulkV("y"), []any{int64(1), nil}}},
			// Larger than the read buffer: it grows, then shrinks when idle.
			{cmd("BIG", "200000"), bulkV(strings.Repeat("x", 200000))},
			{cmd("BIG", "3000000"), bulkV(strings.Repeat("x", 3000000))},
			{cmd("PING"), simpleV("PONG")},
		} {
			got := doValues(t, c, tc.cmd)
			if !reflect.DeepEqual(got, []any{tc.want}) {
				t.Errorf("%q: got %.100v, want %.100v", tc.cmd, got, tc.want)
			}
		}
	})
	if n := srv.accepts.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
	if len(c.rbuf) > maxIdleReadBuf {
		t.Errorf("read buffer stayed at %d bytes after a big reply", len(c.rbuf))
	}
}

func TestPConnUnixSocket(t *testing.T) {
	srv := newFakeServerOn(t, "unix", t.TempDir()+"/s.sock", nil)
	c := newTestConn(t, srv, nil)
	within(t, 10*time.Second, "request", func() {
		if got := doValues(t, c, cmd("ECHO", "over unix")); got[0] != bulkV("over unix") {
			t.Errorf("got %v", got)
		}
	})
	o := srv.options()
	if !strings.HasPrefix(o.Addr(), "unix:") {
		t.Errorf("Addr() = %q", o.Addr())
	}
}

func TestPConnConnectError(t *testing.T) {
	srv := newFakeServer(t, nil)
	o := srv.options()
	srv.Close() // nothing listens on the port now
	c := NewPConn(&o)
	defer c.Close()
	err := c.Do(request(cmd("PING")))
	var ce *ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want *ConnError", err, err)
	}
	if !strings.Contains(err.Error(), o.Addr()) {
		t.Errorf("error %q does not name %s", err, o.Addr())
	}
}

func TestPConnPipeline(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	var cmds [][]byte
	var want []any
	for i := 0; i < 5000; i++ {
		switch i % 5 {
		case 0:
			cmds = append(cmds, cmd("ECHO", "v"+strconv.Itoa(i)))
			want = append(want, bulkV("v"+strconv.Itoa(i)))
		case 1:
			cmds = append(cmds, cmd("INT", strconv.Itoa(-i)))
			want = append(want, int64(-i))
		case 2:
			cmds = append(cmds, cmd("NIL"))
			want = append(want, nil)
		case 3:
			cmds = append(cmds, cmd("ERR", strconv.Itoa(i)))
			want = append(want, errV("ERR "+strconv.Itoa(i)))
		case 4:
			cmds = append(cmds, cmd("ARR", strconv.Itoa(i)))
			want = append(want, []any{bulkV(strconv.Itoa(i)), []any{int64(1), nil}})
		}
	}
	within(t, 20*time.Second, "pipeline", func() {
		if got := doValues(t, c, cmds...); !reflect.DeepEqual(got, want) {
			t.Errorf("pipeline replies differ")
		}
	})
}

// uniqueEchoes builds a request whose replies name the caller, so a reply
// routed to the wrong caller is caught.
func uniqueEchoes(g, i int) (*Request, []any) {
	var cmds [][]byte
	var want []any
	for k := 0; k <= (g+i)%3; k++ {
		v := fmt.Sprintf("g%d-i%d-k%d", g, i, k)
		cmds = append(cmds, cmd("ECHO", v))
		want = append(want, bulkV(v))
	}
	return request(cmds...), want
}

// echoesFromCallers has callers goroutines send each uniqueEchoes requests
// on c, one at a time, and reports every error and wrong reply. A caller g
// for which ownThread(g) holds runs on an OS thread of its own with
// OwnThread requests, as cp_exec's callers do (ownThread nil: none).
func echoesFromCallers(t *testing.T, c *PConn, callers, each int, ownThread func(g int) bool) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	within(t, 60*time.Second, "concurrent callers", func() {
		for g := 0; g < callers; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				own := ownThread != nil && ownThread(g)
				if own {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
				}
				for i := 0; i < each; i++ {
					req, want := uniqueEchoes(g, i)
					req.OwnThread = own
					if err := c.Do(req); err != nil {
						errs <- err
						return
					}
					got, err := decodeTape(req.Tape.Buf)
					if err != nil || !reflect.DeepEqual(got, want) {
						errs <- fmt.Errorf("caller %d request %d: got %v, want %v (%v)", g, i, got, want, err)
						return
					}
				}
			}(g)
		}
		wg.Wait()
	})
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPConnConcurrentDo(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	echoesFromCallers(t, c, 64, 100, nil)
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	t.Logf("largest batch the server saw: %d commands", srv.maxBatch.Load())
}

// Sync and async callers interleaved on one connection.
func TestPConnConcurrentDoAndSubmit(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	const callers, each = 32, 100
	var wg sync.WaitGroup
	errs := make(chan error, 2*callers)
	within(t, 60*time.Second, "callers", func() {
		for g := 0; g < 2*callers; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					req, want := uniqueEchoes(g, i)
					var err error
					if g%2 == 0 {
						err = c.Do(req)
					} else {
						done := make(chan struct{})
						req.OnDone = func(*Request) { close(done) }
						if err = c.Submit(req, true); err == nil {
							<-done
							err = req.Err
						}
					}
					if err != nil {
						errs <- err
						return
					}
					if got, _ := decodeTape(req.Tape.Buf); !reflect.DeepEqual(got, want) {
						errs <- fmt.Errorf("caller %d request %d: got %v, want %v", g, i, got, want)
						return
					}
				}
			}(g)
		}
		wg.Wait()
	})
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPConnSubmit(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	// Not connected yet: a non-blocking submit refuses rather than dial.
	if err := c.Submit(&Request{Data: cmd("PING"), N: 1, OnDone: func(*Request) {}}, false); err != ErrWouldBlock {
		t.Fatalf("Submit before connecting: %v, want ErrWouldBlock", err)
	}
	if c.Queued() != 0 {
		t.Fatalf("refused submit left %d queued", c.Queued())
	}
	const n = 2000
	order := make(chan *Request, n)
	reqs := make([]*Request, n)
	within(t, 30*time.Second, "submits", func() {
		for i := range reqs {
			reqs[i] = &Request{Data: cmd("ECHO", strconv.Itoa(i)), N: 1, ID: uint64(i), OnDone: func(r *Request) { order <- r }}
			if err := c.Submit(reqs[i], i%2 == 0); err != nil && err != ErrWouldBlock {
				t.Errorf("Submit %d: %v", i, err)
			} else if err == ErrWouldBlock {
				if err := c.Submit(reqs[i], true); err != nil {
					t.Errorf("Submit %d: %v", i, err)
				}
			}
		}
		for i := 0; i < n; i++ {
			r := <-order
			// One connection answers in order, so completions come in order.
			if r.ID != uint64(i) {
				t.Errorf("completion %d is request %d", i, r.ID)
			}
			if got, _ := decodeTape(r.Tape.Buf); r.Err != nil || !reflect.DeepEqual(got, []any{bulkV(strconv.Itoa(int(r.ID)))}) {
				t.Errorf("request %d: %v %v", r.ID, got, r.Err)
			}
		}
	})
	if q := c.Queued(); q != 0 {
		t.Errorf("Queued() = %d after all completed", q)
	}
}

// A Submit's data is Go memory the caller may forget: it stays valid.
func TestPConnSubmitLarge(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	data, want := bigPipeline(50000)
	done := make(chan *Request, 1)
	req := &Request{Data: data, N: len(want), OnDone: func(r *Request) { done <- r }}
	within(t, 60*time.Second, "large submit", func() {
		if err := c.Submit(req, true); err != nil {
			t.Errorf("Submit: %v", err)
			return
		}
		r := <-done
		if r.Err != nil {
			t.Errorf("completion: %v", r.Err)
			return
		}
		if got, _ := decodeTape(r.Tape.Buf); !reflect.DeepEqual(got, want) {
			t.Errorf("replies differ")
		}
	})
}

func bigPipeline(n int) ([]byte, []any) {
	var data []byte
	want := make([]any, n)
	for i := 0; i < n; i++ {
		v := "value-" + strconv.Itoa(i)
		data = appendCmd(data, "ECHO", v)
		want[i] = bulkV(v)
	}
	return data, want
}

// A request far larger than the socket buffers, against a server that stops
// reading while its replies are not read: the engine must read while it
// writes or both sides wait forever.
func TestPConnLargeRequestNoDeadlock(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	data, want := bigPipeline(200000)
	if len(data) < 4*bigWrite {
		t.Fatalf("request is only %d bytes", len(data))
	}
	within(t, 90*time.Second, "200,000-command request", func() {
		req := &Request{Data: data, N: len(want)}
		if err := c.Do(req); err != nil {
			t.Errorf("Do: %v", err)
			return
		}
		if got, _ := decodeTape(req.Tape.Buf); !reflect.DeepEqual(got, want) {
			t.Errorf("replies differ")
		}
		// The connection is still in step afterwards.
		if got := doValues(t, c, cmd("ECHO", "after")); got[0] != bulkV("after") {
			t.Errorf("after: %v", got)
		}
	})
}

// Several large requests from concurrent callers at once.
func TestPConnConcurrentLargeRequests(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := newTestConn(t, srv, nil)
	var wg sync.WaitGroup
	within(t, 90*time.Second, "large requests", func() {
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				var data []byte
				var want []any
				for i := 0; i < 20000+g*1000; i++ {
					v := fmt.Sprintf("g%d-%d", g, i)
					data = appendCmd(data, "ECHO", v)
					want = append(want, bulkV(v))
				}
				req := &Request{Data: data, N: len(want)}
				if err := c.Do(req); err != nil {
					t.Errorf("caller %d: %v", g, err)
					return
				}
				if got, _ := decodeTape(req.Tape.Buf); !reflect.DeepEqual(got, want) {
					t.Errorf("caller %d: replies differ", g)
				}
			}(g)
		}
		wg.Wait()
	})
}

// MaxQueued bounds the commands on the wire: callers wait for room, none is
// lost, and the server never sees more than the bound unanswered.
func TestPConnBoundedQueue(t *testing.T) {
	const bound = 4
	srv := newFakeServer(t, serveSlow(200*time.Microsecond))
	c := newTestConn(t, srv, func(o *Options) { o.MaxQueued = bound })
	var maxSeen atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if q := int64(c.Queued()); q > maxSeen.Load() {
				maxSeen.Store(q)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}()
	const callers, each = 16, 30
	var wg sync.WaitGroup
	var ok atomic.Int64
	within(t, 60*time.Second, "bounded callers", func() {
		for g := 0; g < callers; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					v := fmt.Sprintf("%d/%d", g, i)
					var err error
					req := request(cmd("ECHO", v))
					if i%3 == 0 {
						done := make(chan struct{})
						req.OnDone = func(*Request) { close(done) }
						if err = c.Submit(req, true); err == nil {
							<-done
							err = req.Err
						}
					} else {
						err = c.Do(req)
					}
					if err != nil {
						t.Errorf("%s: %v", v, err)
						return
					}
					if got, _ := decodeTape(req.Tape.Buf); !reflect.DeepEqual(got, []any{bulkV(v)}) {
						t.Errorf("%s: got %v", v, got)
						return
					}
					ok.Add(1)
				}
			}(g)
		}
		wg.Wait()
	})
	close(stop)
	if ok.Load() != callers*each {
		t.Fatalf("%d of %d requests answered", ok.Load(), callers*each)
	}
	if m := srv.maxBatch.Load(); m > bound {
		t.Errorf("server read %d commands before answering, bound is %d", m, bound)
	}
	if m := maxSeen.Load(); m > bound {
		t.Errorf("Queued() reached %d, bound is %d", m, bound)
	}
	t.Logf("largest batch %d, largest queue %d", srv.maxBatch.Load(), maxSeen.Load())

	// A request larger than the bound is still accepted, alone.
	within(t, 10*time.Second, "oversized request", func() {
		var cmds [][]byte
		for i := 0; i < 3*bound; i++ {
			cmds = append(cmds, cmd("PING"))
		}
		if got := doValues(t, c, cmds...); len(got) != 3*bound {
			t.Errorf("%d replies", len(got))
		}
	})
}

// With the queue full, a non-blocking Submit refuses and a Do waits no
// longer than the socket timeout.
func TestPConnQueueFull(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	c := newTestConn(t, srv, func(o *Options) { o.MaxQueued = 2; o.SocketTimeout = 300 * time.Millisecond })
	done := make(chan *Request, 3)
	for i := 0; i < 2; i++ {
		if err := c.Submit(&Request{Data: cmd("PING"), N: 1, OnDone: func(r *Request) { done <- r }}, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Submit(&Request{Data: cmd("PING"), N: 1, OnDone: func(r *Request) { done <- r }}, false); err != ErrWouldBlock {
		t.Fatalf("Submit on a full queue: %v, want ErrWouldBlock", err)
	}
	within(t, 10*time.Second, "Do on a full queue", func() {
		start := time.Now()
		err := c.Do(request(cmd("PING")))
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("Do: %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Errorf("Do failed after %v, before the socket timeout", d)
		}
		for i := 0; i < 2; i++ {
			if r := <-done; !errors.Is(r.Err, ErrTimeout) {
				t.Errorf("submitted request: %v, want ErrTimeout", r.Err)
			}
		}
	})
}
