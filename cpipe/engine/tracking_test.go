package engine

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func tapeOf(t *testing.T, resp string) []byte {
	t.Helper()
	var rd Reader
	var tape Tape
	n, done, _, err := rd.Scan([]byte(resp), &tape)
	if err != nil || !done || n != len(resp) {
		t.Fatalf("scan %q: n=%d done=%v err=%v", resp, n, done, err)
	}
	return tape.Buf
}

func TestParseInvalidation(t *testing.T) {
	msg := "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
	cases := []struct {
		name  string
		resp  string
		keys  []string
		null  bool
		valid bool
	}{
		{"keys", msg + "*2\r\n$1\r\na\r\n$2\r\nbc\r\n", []string{"a", "bc"}, false, true},
		{"null (FLUSHDB)", msg + "*-1\r\n", nil, true, true},
		{"one key as a bulk (Redis 6.0)", msg + "$3\r\nkey\r\n", []string{"key"}, false, true},
		{"RESP3 push payload", "*2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nz\r\n", []string{"z"}, false, true},
		{"pong", "*2\r\n$4\r\npong\r\n$0\r\n\r\n", nil, false, false},
		{"subscribe confirmation", "*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n", nil, false, false},
		{"another channel", "*3\r\n$7\r\nmessage\r\n$5\r\nother\r\n*1\r\n$1\r\na\r\n", nil, false, false},
		{"not an array of keys", msg + ":5\r\n", nil, false, false},
	}
	for _, c := range cases {
		keys, null, ok := parseInvalidation(tapeOf(t, c.resp))
		var got []string
		for _, k := range keys {
			got = append(got, string(k))
		}
		if ok != c.valid || null != c.null || strings.Join(got, ",") != strings.Join(c.keys, ",") {
			t.Errorf("%s: got keys=%q null=%v ok=%v", c.name, got, null, ok)
		}
	}
}

func TestTrackingSinkQueuesBumpsAndOverflows(t *testing.T) {
	s := NewTrackingSink(nil, 3, 100)
	if s.Events() != 0 {
		t.Fatal("a new sink has events")
	}
	s.invalidate([][]byte{[]byte("a"), []byte("b")}, false)
	if s.Events() != 1 {
		t.Fatalf("events %d after one invalidation", s.Events())
	}
	ready, flush, keys := s.Drain()
	if !ready || flush || len(keys) != 2 {
		t.Fatalf("drain: ready=%v flush=%v keys=%q", ready, flush, keys)
	}
	// Past the key bound: the queue is dropped and everything flushed.
	s.invalidate([][]byte{[]byte("1"), []byte("2"), []byte("3"), []byte("4")}, false)
	ready, flush, keys = s.Drain()
	if !flush || keys != nil || s.Stats().Overflows != 1 {
		t.Fatalf("overflow: flush=%v keys=%q stats=%+v", flush, keys, s.Stats())
	}
	// Past the byte bound too.
	s.invalidate([][]byte{make([]byte, 101)}, false)
	if _, flush, _ = s.Drain(); !flush {
		t.Fatal("a key past the byte bound did not flush")
	}
	// Null invalidation flushes; while a tracker re-points, not ready.
	s.invalidate(nil, true)
	s.setReady(false)
	if ready, flush, _ = s.Drain(); ready || !flush {
		t.Fatalf("re-pointing: ready=%v flush=%v", ready, flush)
	}
	s.setReady(true)
	if ready, flush, _ = s.Drain(); !ready || !flush {
		t.Fatalf("re-pointed: ready=%v flush=%v", ready, flush)
	}
	before := s.Events()
	s.Close()
	s.Flush()
	if s.Events() != before {
		t.Fatal("a closed sink still bumps its counter")
	}
}

// trackingServer is a fake server that answers CLIENT ID, SUBSCRIBE and
// CLIENT TRACKING, and hands the test each subscribed connection.
type trackingServer struct {
	*fakeServer
	mu           sync.Mutex
	nextID       int64
	tracking     []string // CLIENT TRACKING commands received, joined
	trackedConns []*serverConn
	subscribe    chan *serverConn
}

func newTrackingServer(t *testing.T) *trackingServer {
	ts := &trackingServer{nextID: 100, subscribe: make(chan *serverConn, 4)}
	ts.fakeServer = newFakeServer(t, serveWith(func(sc *serverConn, args []string) (bool, bool) {
		switch strings.ToUpper(strings.Join(args[:min(2, len(args))], " ")) {
		case "CLIENT ID":
			ts.mu.Lock()
			ts.nextID++
			id := ts.nextID
			ts.mu.Unlock()
			sc.w.WriteString(":" + itoaString(id) + "\r\n")
			return true, true
		case "CLIENT TRACKING":
			ts.mu.Lock()
			ts.tracking = append(ts.tracking, strings.Join(args, " "))
			ts.trackedConns = append(ts.trackedConns, sc)
			ts.mu.Unlock()
			sc.w.WriteString("+OK\r\n")
			return true, true
		}
		switch strings.ToUpper(args[0]) {
		case "SUBSCRIBE":
			sc.w.WriteString("*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n")
			sc.w.Flush()
			ts.subscribe <- sc
			return true, true
		case "PING":
			sc.w.WriteString("*2\r\n$4\r\npong\r\n$0\r\n\r\n")
			return true, true
		}
		return false, true
	}))
	return ts
}

func itoaString(v int64) string { return string(itoa(v)) }

func (ts *trackingServer) trackingCommands() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.tracking...)
}

func TestTrackerRedirectsInvalidatesAndRepoints(t *testing.T) {
	ts := newTrackingServer(t)
	defer ts.Close()
	g := NewGroup(ts.options(), 2, true)
	defer g.Close()
	sink := NewTrackingSink(nil, 0, 0)
	g.EnableTracking(sink, TrackingMode{BCast: true, Prefixes: [][]byte{[]byte("user:")}})
	for _, c := range g.conns {
		if err := c.Do(request(cmd("PING"))); err != nil {
			t.Fatal(err)
		}
	}
	sub := <-ts.subscribe
	if got := ts.trackingCommands(); len(got) != 2 || got[0] != "CLIENT TRACKING ON REDIRECT 101 BCAST PREFIX user:" {
		t.Fatalf("tracking commands at connect: %q", got)
	}
	// An invalidation on the subscribed connection reaches the sink.
	sub.Conn.Write([]byte("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$6\r\nuser:1\r\n"))
	waitFor(t, 5*time.Second, "the invalidation", func() bool { return sink.Events() > 0 })
	if _, _, keys := sink.Drain(); len(keys) != 1 || string(keys[0]) != "user:1" {
		t.Fatalf("keys %q", keys)
	}
	// The invalidation connection drops: flush, not ready, a new one, the
	// shared connections re-pointed at it, ready again.
	sub.Conn.Close()
	waitFor(t, 5*time.Second, "re-pointing", func() bool {
		n := 0
		for _, c := range ts.trackingCommands() {
			if strings.HasPrefix(c, "CLIENT TRACKING ON REDIRECT 102 ") {
				n++
			}
		}
		return n == 2
	})
	waitFor(t, 5*time.Second, "ready again", func() bool {
		ready, _, _ := sink.Drain()
		return ready
	})
	if sink.Stats().Flushes < 2 {
		t.Fatalf("flushes %d: want one at the loss and one once re-pointed", sink.Stats().Flushes)
	}
}

func TestTrackerFlushesWhenAnIdleSharedConnectionIsClosedByTheServer(t *testing.T) {
	ts := newTrackingServer(t)
	defer ts.Close()
	g := NewGroup(ts.options(), 1, false)
	defer g.Close()
	sink := NewTrackingSink(nil, 0, 0)
	g.EnableTracking(sink, TrackingMode{})
	if err := g.Do(request(cmd("PING")), false, 0); err != nil {
		t.Fatal(err)
	}
	<-ts.subscribe
	sink.Drain()
	flushes := sink.Stats().Flushes
	// The server hangs up on the idle data connection (CLIENT KILL); no
	// command is sent, yet the probe notices and the host is told to flush.
	ts.mu.Lock()
	tracked := ts.trackedConns[0]
	ts.mu.Unlock()
	tracked.Conn.Close()
	waitFor(t, 5*time.Second, "the flush", func() bool { return sink.Stats().Flushes > flushes })
	if _, flush, _ := sink.Drain(); !flush {
		t.Fatal("no flush reported to the host")
	}
	if err := g.Do(request(cmd("PING")), false, 0); err != nil {
		t.Fatalf("after the loss: %v", err)
	}
}
