package engine

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestGroup(t testing.TB, srv *fakeServer, size int, autopipeline bool, mod func(*Options)) *Group {
	t.Helper()
	o := srv.options()
	if mod != nil {
		mod(&o)
	}
	g := NewGroup(o, size, autopipeline)
	t.Cleanup(g.Close)
	return g
}

// blockHook answers BLOCK only once release is closed (or the server
// closes), like BLPOP on an empty list; blocked counts BLOCKs read.
func blockHook(release <-chan struct{}, blocked *atomic.Int64) func(*serverConn, []string) (bool, bool) {
	return func(sc *serverConn, args []string) (bool, bool) {
		if args[0] != "BLOCK" {
			return false, true
		}
		sc.w.Flush()
		blocked.Add(1)
		select {
		case <-release:
		case <-sc.srv.closed:
			return true, false
		}
		sc.bulk("released")
		return true, true
	}
}

func TestGroupConcurrentDo(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 3, true, nil)
	const callers, each = 64, 50
	var wg sync.WaitGroup
	within(t, 60*time.Second, "callers", func() {
		for c := 0; c < callers; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					req, want := uniqueEchoes(c, i)
					if err := g.Do(req, false, 0); err != nil {
						t.Errorf("Do: %v", err)
						return
					}
					if got, _ := decodeTape(req.Tape.Buf); !reflect.DeepEqual(got, want) {
						t.Errorf("caller %d request %d: got %v, want %v", c, i, got, want)
						return
					}
				}
			}(c)
		}
		wg.Wait()
	})
	if n := srv.accepts.Load(); n < 1 || n > 3 {
		t.Errorf("%d connections for a group of 3", n)
	}
}

// Without autopipelining a caller has a connection to itself: the server
// never sees two requests at once on one connection.
func TestGroupExclusive(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 2, false, nil)
	const callers, each = 16, 30
	var wg sync.WaitGroup
	within(t, 60*time.Second, "callers", func() {
		for c := 0; c < callers; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					v := fmt.Sprintf("%d/%d", c, i)
					req := request(cmd("ECHO", v))
					if err := g.Do(req, false, 0); err != nil {
						t.Errorf("Do: %v", err)
						return
					}
					if got, _ := decodeTape(req.Tape.Buf); !reflect.DeepEqual(got, []any{bulkV(v)}) {
						t.Errorf("%s: got %v", v, got)
						return
					}
				}
			}(c)
		}
		wg.Wait()
	})
	// Blocking commands (every fifth) run on side connections, at most
	// maxSide at a time; the rest share the group's 2.
	if n := srv.accepts.Load(); n < 1 || n > 2+int64(callers) {
		t.Errorf("%d connections for an exclusive group of 2", n)
	}
	if m := srv.maxBatch.Load(); m != 1 {
		t.Errorf("server saw %d commands at once on a connection; exclusive mode shares none", m)
	}
}

// pollAll collects completions until n commands' worth arrived.
func pollAll(t testing.TB, q *Completions, n int, d time.Duration) []*Request {
	t.Helper()
	var out []*Request
	got := 0
	deadline := time.Now().Add(d)
	for got < n {
		if time.Now().After(deadline) {
			t.Fatalf("collected %d of %d commands' completions in %v", got, n, d)
		}
		for _, r := range q.Poll(100 * time.Millisecond) {
			out = append(out, r)
			got += r.N
		}
	}
	return out
}

func TestGroupSubmitPoll(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 2, true, nil)
	q := NewCompletions(-1)
	defer q.Close()
	if r := q.Poll(0); r != nil {
		t.Fatalf("Poll on an empty queue: %v", r)
	}
	// With nothing outstanding Poll still sleeps for its timeout: a
	// consumer polling in a loop must not spin while its pool is idle.
	start := time.Now()
	if r := q.Poll(200 * time.Millisecond); r != nil || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("Poll with nothing outstanding waited %v (want ~200ms) or returned %v", time.Since(start), r)
	}
	const n = 1000
	want := map[uint64][]any{}
	total := 0
	for i := 0; i < n; i++ {
		req, w := uniqueEchoes(i, 0)
		req.ID = uint64(i)
		want[req.ID] = w
		total += req.N
		if err := g.Submit(req, q, false, 0, true); err != nil {
			t.Fatalf("Submit %d: %v", i, err)
		}
	}
	if o := q.Outstanding(); o > total {
		t.Fatalf("Outstanding() = %d, submitted %d", o, total)
	}
	var done []*Request
	within(t, 30*time.Second, "completions", func() { done = pollAll(t, q, total, 20*time.Second) })
	seen := map[uint64]bool{}
	for _, r := range done {
		if seen[r.ID] {
			t.Errorf("request %d completed twice", r.ID)
		}
		seen[r.ID] = true
		if r.Err != nil {
			t.Errorf("request %d: %v", r.ID, r.Err)
			continue
		}
		if got, _ := decodeTape(r.Tape.Buf); !reflect.DeepEqual(got, want[r.ID]) {
			t.Errorf("request %d: got %v, want %v", r.ID, got, want[r.ID])
		}
	}
	if len(seen) != n {
		t.Errorf("%d of %d requests completed", len(seen), n)
	}
	if o := q.Outstanding(); o != 0 {
		t.Errorf("Outstanding() = %d after collecting everything", o)
	}
}

// Submissions from many goroutines at once, collected by one poller.
func TestGroupConcurrentSubmit(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 2, true, nil)
	q := NewCompletions(-1)
	defer q.Close()
	const submitters, each = 16, 200
	var wg sync.WaitGroup
	for s := 0; s < submitters; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				req := request(cmd("ECHO", fmt.Sprintf("%d/%d", s, i)))
				req.ID = uint64(s*each + i)
				for {
					err := g.Submit(req, q, false, 0, i%2 == 0)
					if err == ErrWouldBlock {
						continue // the non-blocking path; retry blocking next
					}
					if err != nil {
						t.Errorf("Submit: %v", err)
					}
					break
				}
			}
		}(s)
	}
	var done []*Request
	within(t, 30*time.Second, "completions", func() { done = pollAll(t, q, submitters*each, 20*time.Second) })
	wg.Wait()
	for _, r := range done {
		want := fmt.Sprintf("%d/%d", r.ID/each, r.ID%each)
		if got, _ := decodeTape(r.Tape.Buf); r.Err != nil || !reflect.DeepEqual(got, []any{bulkV(want)}) {
			t.Errorf("request %d: got %v (%v), want %q", r.ID, got, r.Err, want)
		}
	}
}

func TestGroupSubmitWouldBlock(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 1, true, nil)
	q := NewCompletions(-1)
	req := request(cmd("PING"))
	if err := g.Submit(req, q, false, 0, false); err != ErrWouldBlock {
		t.Fatalf("Submit before connecting: %v, want ErrWouldBlock", err)
	}
	if o := q.Outstanding(); o != 0 {
		t.Fatalf("refused submit left Outstanding() = %d", o)
	}
	if srv.accepts.Load() != 0 {
		t.Fatalf("a non-blocking submit connected")
	}
	if err := g.Submit(req, q, false, 0, true); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "completion", func() { pollAll(t, q, 1, 5*time.Second) })
	q.Close()
	if err := g.Submit(request(cmd("PING")), q, false, 0, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit to a closed queue: %v, want ErrClosed", err)
	}
}

// With a notify fd, the first completion after each drain writes one byte.
func TestCompletionsNotifyFd(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 1, true, nil)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	q := NewCompletions(int(w.Fd()))
	readByte := func(d time.Duration) bool {
		r.SetReadDeadline(time.Now().Add(d))
		var b [16]byte
		n, _ := r.Read(b[:])
		if n > 1 {
			t.Errorf("%d wake-up bytes at once", n)
		}
		return n > 0
	}
	doneCount := func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.done)
	}
	if err := g.Submit(request(cmd("PING")), q, false, 0, true); err != nil {
		t.Fatal(err)
	}
	if !readByte(5 * time.Second) {
		t.Fatal("no wake-up byte for the first completion")
	}
	for i := 0; i < 5; i++ {
		if err := g.Submit(request(cmd("PING")), q, false, 0, true); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "completions", func() bool { return doneCount() == 6 })
	if readByte(50 * time.Millisecond) {
		t.Error("a wake-up byte per completion; want one per drain")
	}
	if got := q.Poll(0); len(got) != 6 {
		t.Fatalf("Poll returned %d completions, want 6", len(got))
	}
	if err := g.Submit(request(cmd("PING")), q, false, 0, true); err != nil {
		t.Fatal(err)
	}
	if !readByte(5 * time.Second) {
		t.Fatal("no wake-up byte after a drain")
	}
}

// A blocking command gets a connection of its own: it does not hold up
// other callers, and its side connection is reused afterwards.
func TestGroupBlockingOnSideConnection(t *testing.T) {
	release := make(chan struct{})
	var blocked atomic.Int64
	srv := newFakeServer(t, serveWith(blockHook(release, &blocked)))
	g := newTestGroup(t, srv, 1, true, nil)
	res := make(chan error, 1)
	req := request(cmd("BLOCK"))
	go func() { res <- g.Do(req, true, -1) }()
	waitFor(t, 10*time.Second, "the blocking command to reach the server", func() bool { return blocked.Load() == 1 })
	within(t, 10*time.Second, "other callers while a command blocks", func() {
		var wg sync.WaitGroup
		for c := 0; c < 8; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					r, want := uniqueEchoes(c, i)
					if err := g.Do(r, false, 0); err != nil {
						t.Errorf("Do: %v", err)
						return
					}
					if got, _ := decodeTape(r.Tape.Buf); !reflect.DeepEqual(got, want) {
						t.Errorf("got %v, want %v", got, want)
						return
					}
				}
			}(c)
		}
		wg.Wait()
	})
	select {
	case err := <-res:
		t.Fatalf("blocking command returned before its reply: %v", err)
	default:
	}
	close(release)
	within(t, 10*time.Second, "the blocking command", func() {
		if err := <-res; err != nil {
			t.Errorf("blocking Do: %v", err)
		}
	})
	if got, _ := decodeTape(req.Tape.Buf); !reflect.DeepEqual(got, []any{bulkV("released")}) {
		t.Errorf("blocking reply %v", got)
	}
	// The next blocking command reuses the idle side connection.
	within(t, 10*time.Second, "a second blocking command", func() {
		if err := g.Do(request(cmd("BLOCK")), true, -1); err != nil {
			t.Errorf("blocking Do: %v", err)
		}
	})
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (shared + one reused side connection)", n)
	}
}

// A blocking command's reply may take SocketTimeout + blockFor.
func TestGroupBlockingReadTimeout(t *testing.T) {
	srv := newFakeServer(t, nil)
	g := newTestGroup(t, srv, 1, true, func(o *Options) { o.SocketTimeout = 150 * time.Millisecond })
	within(t, 10*time.Second, "requests", func() {
		if err := g.Do(request(cmd("SLEEP", "300", "x")), true, 400*time.Millisecond); err != nil {
			t.Errorf("blocking Do within SocketTimeout+blockFor: %v", err)
		}
		if err := g.Do(request(cmd("SLEEP", "300", "x")), true, -1); err != nil {
			t.Errorf("blocking Do without limit: %v", err)
		}
		start := time.Now()
		if err := g.Do(request(cmd("SLEEP", "1000", "x")), true, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
			t.Errorf("blocking Do past SocketTimeout+blockFor: %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("timed out after %v, want about 250ms", d)
		}
		if err := g.Do(request(cmd("SLEEP", "300", "x")), false, 0); !errors.Is(err, ErrTimeout) {
			t.Errorf("ordinary Do past SocketTimeout: %v, want ErrTimeout", err)
		}
	})
	for _, tc := range []struct{ socket, blockFor, want time.Duration }{
		{time.Second, 2 * time.Second, 3 * time.Second},
		{time.Second, -1, -1},
		{0, time.Second, -1},
		{time.Second, 0, time.Second},
	} {
		if got := blockingReadTimeout(tc.socket, tc.blockFor); got != tc.want {
			t.Errorf("blockingReadTimeout(%v, %v) = %v, want %v", tc.socket, tc.blockFor, got, tc.want)
		}
	}
}

// A blocking submission completes through the queue without holding up
// ordinary submissions.
func TestGroupBlockingSubmit(t *testing.T) {
	release := make(chan struct{})
	var blocked atomic.Int64
	srv := newFakeServer(t, serveWith(blockHook(release, &blocked)))
	g := newTestGroup(t, srv, 1, true, nil)
	q := NewCompletions(-1)
	defer q.Close()
	breq := request(cmd("BLOCK"))
	breq.ID = 999
	if err := g.Submit(breq, q, true, -1, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the blocking command", func() bool { return blocked.Load() == 1 })
	for i := 0; i < 50; i++ {
		req := request(cmd("ECHO", strconv.Itoa(i)))
		req.ID = uint64(i)
		if err := g.Submit(req, q, false, 0, true); err != nil {
			t.Fatal(err)
		}
	}
	within(t, 10*time.Second, "ordinary completions", func() {
		for _, r := range pollAll(t, q, 50, 5*time.Second) {
			if r.ID == 999 {
				t.Errorf("blocking command completed before release")
			}
		}
	})
	close(release)
	within(t, 10*time.Second, "blocking completion", func() {
		rs := pollAll(t, q, 1, 5*time.Second)
		if len(rs) != 1 || rs[0].ID != 999 || rs[0].Err != nil {
			t.Errorf("got %v", rs)
			return
		}
		if got, _ := decodeTape(rs[0].Tape.Buf); !reflect.DeepEqual(got, []any{bulkV("released")}) {
			t.Errorf("blocking reply %v", got)
		}
	})
}

// Close fails sync and async work in flight with ErrClosed, and all later
// work.
func TestGroupClose(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	o := srv.options()
	g := NewGroup(o, 2, true)
	q := NewCompletions(-1)
	defer q.Close()
	const syncN, asyncN = 3, 5
	errs := make(chan error, syncN)
	for i := 0; i < syncN; i++ {
		go func() { errs <- g.Do(request(cmd("PING")), false, 0) }()
	}
	for i := 0; i < asyncN; i++ {
		req := request(cmd("PING"))
		req.ID = uint64(i)
		if err := g.Submit(req, q, false, 0, true); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the server to read everything", func() bool { return srv.commands.Load() == syncN+asyncN })
	within(t, 10*time.Second, "Close", g.Close)
	within(t, 10*time.Second, "failures", func() {
		for i := 0; i < syncN; i++ {
			if err := <-errs; !errors.Is(err, ErrClosed) {
				t.Errorf("Do: %v, want ErrClosed", err)
			}
		}
		for _, r := range pollAll(t, q, asyncN, 5*time.Second) {
			if !errors.Is(r.Err, ErrClosed) {
				t.Errorf("async request %d: %v, want ErrClosed", r.ID, r.Err)
			}
		}
	})
	if err := g.Do(request(cmd("PING")), false, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v", err)
	}
	if err := g.Do(request(cmd("PING")), true, time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("blocking Do after Close: %v", err)
	}
	if err := g.Submit(request(cmd("PING")), q, false, 0, true); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v", err)
	}
	g.Close()
}

// Without autopipelining a blocking command runs on a borrowed pool
// connection, but Submit (pickAsync) ignores borrowing and may queue
// asynchronous requests on that same connection, behind the blocking
// command: they wait for it, though another connection is idle.
func TestBugGroupExclusiveAsyncQueuedBehindBlocking(t *testing.T) {
	release := make(chan struct{})
	var blocked atomic.Int64
	srv := newFakeServer(t, serveWith(blockHook(release, &blocked)))
	g := newTestGroup(t, srv, 2, false, nil)
	defer srv.Close()    // after the checks: ends the blocking command
	defer close(release) // runs first
	res := make(chan error, 1)
	go func() { res <- g.Do(request(cmd("BLOCK")), true, -1) }()
	waitFor(t, 10*time.Second, "the blocking command", func() bool { return blocked.Load() == 1 })
	q := NewCompletions(-1)
	defer q.Close()
	// A slow request makes the free connection as busy as the blocked one,
	// so pick() (fewest queued, first wins ties) chooses the blocked one.
	slow := request(cmd("SLEEP", "300", "slow"))
	if err := g.Submit(slow, q, false, 0, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the slow request to be written", func() bool { return srv.commands.Load() == 2 })
	const n = 50
	for i := 0; i < n; i++ {
		req := request(cmd("ECHO", strconv.Itoa(i)))
		req.ID = uint64(i)
		if err := g.Submit(req, q, false, 0, true); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	deadline := time.Now().Add(3 * time.Second)
	for got < n+1 && time.Now().Before(deadline) {
		for _, r := range q.Poll(100 * time.Millisecond) {
			if r.Err != nil {
				t.Errorf("request %d: %v", r.ID, r.Err)
			}
			got += r.N
		}
	}
	if got < n+1 {
		t.Errorf("engine bug: %d of %d async requests still waiting after 3s behind a blocking command, with a pool connection free", n+1-got, n+1)
	}
}

// Engine gap: Group.Close does not reach a side connection that is in use,
// so a blocking command with no time limit (BLPOP key 0) keeps its caller
// waiting after the group is closed, until the server answers.
func TestBugGroupCloseLeavesBlockingCallerWaiting(t *testing.T) {
	release := make(chan struct{}) // never closed: the server's Close ends it
	var blocked atomic.Int64
	srv := newFakeServer(t, serveWith(blockHook(release, &blocked)))
	o := srv.options()
	g := NewGroup(o, 1, true)
	res := make(chan error, 1)
	go func() { res <- g.Do(request(cmd("BLOCK")), true, -1) }()
	waitFor(t, 10*time.Second, "the blocking command", func() bool { return blocked.Load() == 1 })
	within(t, 10*time.Second, "Close", g.Close)
	select {
	case err := <-res:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("blocking Do after Close: %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("engine bug: a blocking command on a side connection is still waiting 2s after Group.Close")
		srv.Close() // unblock it
		<-res
	}
}

// Callers that pick at the same moment get different idle connections: an
// idle connection is marked busy as it is picked, before its caller is
// admitted, so nobody queues behind a connection whose reader is another
// caller while idle ones are left.
func TestPickSpreadsSimultaneousCallersOverIdleConnections(t *testing.T) {
	o := &Options{}
	g := &Group{}
	for range 4 {
		g.conns = append(g.conns, NewPConn(o))
	}
	seen := map[*PConn]bool{}
	for range 4 {
		c := g.pick()
		if seen[c] {
			t.Fatalf("pick returned a connection it had just handed out while others were idle")
		}
		seen[c] = true
	}
	// All marked: the least busy one still comes back (a mark is only a hint).
	if c := g.pick(); c == nil || !seen[c] {
		t.Fatalf("pick with every connection marked returned %v", c)
	}
	// Admission and completion store the true count over the mark.
	for c := range seen {
		c.queuedHint.Store(0)
	}
	if c := g.pick(); !seen[c] {
		t.Fatal("pick did not reuse a connection whose count went back to 0")
	}
}
