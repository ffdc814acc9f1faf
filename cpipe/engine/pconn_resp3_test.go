package engine

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// redisServer starts redis-server (7.0 on these machines) on a free
// loopback port with extra config arguments, for the life of the test.
// A port found free can be taken before the server binds it (other test
// runs share the machine), so a server that exits at start is tried again
// on a new port; what it printed is shown if every try fails.
func redisServer(t *testing.T, args ...string) Options {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed for this test: %v", err)
	}
	var out []byte
	for try := 0; try < 3; try++ {
		port := freePort(t)
		if o, ok := startRedisServer(t, path, port, args, &out); ok {
			return o
		}
	}
	t.Fatalf("redis-server %v did not start on 3 ports; it printed:\n%s", args, out)
	return Options{}
}

// startRedisServer: false if the server exited before it accepted a connection.
func startRedisServer(t *testing.T, path string, port int, args []string, out *[]byte) (Options, bool) {
	t.Helper()
	argv := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, args...)
	srv := exec.Command(path, argv...)
	// Its log goes to a file: the reason it exited, if it does, is there.
	logFile, err := os.CreateTemp(t.TempDir(), "redis-server-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	srv.Stdout, srv.Stderr = logFile, logFile
	printed := func() []byte { b, _ := os.ReadFile(logFile.Name()); return b }
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { srv.Wait(); close(exited) }()
	t.Cleanup(func() { srv.Process.Kill(); <-exited })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			*out = printed()
			return Options{}, false
		default:
		}
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == "+PONG\r\n" || strings.HasPrefix(line, "-NOAUTH") {
				return Options{Host: "127.0.0.1", Port: port, SocketTimeout: 10 * time.Second, ConnectTimeout: 5 * time.Second}, true
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out after 10s waiting for redis-server to accept connections; it printed:\n%s", printed())
	return Options{}, false
}

// inlineCommand sends one inline command on a connection of its own.
func inlineCommand(t *testing.T, o Options, line string) string {
	t.Helper()
	c, err := net.Dial("tcp", o.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(line + "\r\n"))
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// groupValues runs one request on g and decodes its replies: exactly one
// per command, push frames never among them.
func groupValues(t *testing.T, g *Group, commands ...[]byte) []any {
	t.Helper()
	req := request(commands...)
	if err := g.Do(req, false, 0); err != nil {
		t.Fatalf("Do: %v", err)
	}
	v := mustDecode(t, req.Tape.Buf)
	if len(v) != req.N {
		t.Fatalf("%d commands, %d replies", req.N, len(v))
	}
	return v
}

// pushLog collects OnPush frames, decoded.
type pushLog struct {
	mu     sync.Mutex
	frames []any
}

func (p *pushLog) hook(t *testing.T) func([]byte) {
	return func(frame []byte) {
		v, err := decodeTape(frame)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil || len(v) != 1 {
			p.frames = append(p.frames, errV("bad frame"))
			return
		}
		p.frames = append(p.frames, v[0])
	}
}

func (p *pushLog) get() []any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]any(nil), p.frames...)
}

func invalidate(keys ...string) pushV {
	ks := []any{}
	for _, k := range keys {
		ks = append(ks, bulkV(k))
	}
	return pushV{bulkV("invalidate"), ks}
}

// HELLO 3 against Redis 7: RESP3 replies (a map for HGETALL, a double for
// ZSCORE, a set for SMEMBERS), and the group says RESP3.
func TestResp3RepliesFromRedis(t *testing.T) {
	o := redisServer(t)
	o.Protocol = RESP3
	g := NewGroup(o, 1, true)
	defer g.Close()
	if g.Protocol() != 0 {
		t.Fatalf("protocol %d before any connect", g.Protocol())
	}
	got := groupValues(t, g,
		cmd("HSET", "h", "f", "v"), cmd("HGETALL", "h"), cmd("ZADD", "z", "1.5", "m"), cmd("ZSCORE", "z", "m"),
		cmd("SADD", "s", "a"), cmd("SMEMBERS", "s"), cmd("GET", "missing"), cmd("EVAL", "redis.setresp(3); return {double=3.25}", "0"))
	want := []any{int64(1), mapV{bulkV("f"), bulkV("v")}, int64(1), dbl(1.5), int64(1), setV{bulkV("a")}, nil, dbl(3.25)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
	if g.Protocol() != RESP3 {
		t.Fatalf("protocol %d, want 3", g.Protocol())
	}
}

// CLIENT TRACKING invalidations: each push frame reaches OnPush, wherever it
// arrives (between replies of one request, after the last reply, on an idle
// connection), and no reply is displaced by one.
func TestResp3InvalidationPushes(t *testing.T) {
	o := redisServer(t)
	o.Protocol = RESP3
	var log pushLog
	o.OnPush = log.hook(t)
	g := NewGroup(o, 1, true)
	defer g.Close()
	if got := groupValues(t, g, cmd("CLIENT", "TRACKING", "ON"), cmd("SET", "k", "1"), cmd("GET", "k")); !reflect.DeepEqual(got,
		[]any{simpleV("OK"), simpleV("OK"), bulkV("1")}) {
		t.Fatalf("setup: %#v", got)
	}
	// Another connection changes k while ours is idle: the invalidation
	// waits in our socket until the next request's idle peek drains it.
	if r := inlineCommand(t, o, "SET k 2"); r != "+OK\r\n" {
		t.Fatalf("SET from another connection: %q", r)
	}
	time.Sleep(20 * time.Millisecond) // for the invalidation to arrive
	if got := groupValues(t, g, cmd("PING")); !reflect.DeepEqual(got, []any{simpleV("PONG")}) {
		t.Fatalf("PING after an idle invalidation: %#v", got)
	}
	waitFor(t, 5*time.Second, "one push", func() bool { return len(log.get()) == 1 })
	// Our own write of a tracked key: its invalidation comes in the middle
	// of this request's replies.
	got := groupValues(t, g, cmd("GET", "k"), cmd("SET", "k", "3"), cmd("GET", "k"), cmd("PING"))
	if !reflect.DeepEqual(got, []any{bulkV("2"), simpleV("OK"), bulkV("3"), simpleV("PONG")}) {
		t.Fatalf("replies with an invalidation among them: %#v", got)
	}
	waitFor(t, 5*time.Second, "two pushes", func() bool { return len(log.get()) == 2 })
	if frames := log.get(); !reflect.DeepEqual(frames, []any{invalidate("k"), invalidate("k")}) {
		t.Fatalf("pushes %#v", frames)
	}
	if g.DroppedPushes() != 0 {
		t.Fatalf("dropped %d", g.DroppedPushes())
	}
}

// Without OnPush, push frames are dropped and counted; replies are intact.
func TestResp3PushesDroppedWithoutHook(t *testing.T) {
	o := redisServer(t)
	o.Protocol = RESP3
	g := NewGroup(o, 1, true)
	defer g.Close()
	got := groupValues(t, g, cmd("CLIENT", "TRACKING", "ON"), cmd("SET", "k", "1"), cmd("GET", "k"), cmd("SET", "k", "2"), cmd("GET", "k"))
	if !reflect.DeepEqual(got, []any{simpleV("OK"), simpleV("OK"), bulkV("1"), simpleV("OK"), bulkV("2")}) {
		t.Fatalf("replies %#v", got)
	}
	waitFor(t, 5*time.Second, "a dropped push", func() bool {
		groupValues(t, g, cmd("PING"))
		return g.DroppedPushes() == 1
	})
}

// A push frame split over many reads, with nothing else in flight, is
// still one frame (fake server: pushes on demand, flushed byte by byte).
func TestResp3PushSplitAcrossReads(t *testing.T) {
	s := newFakeServer(t, serveWith(func(sc *serverConn, args []string) (bool, bool) {
		switch strings.ToUpper(args[0]) {
		case "HELLO":
			sc.w.WriteString("%1\r\n$5\r\nproto\r\n:3\r\n")
			return true, true
		case "PUSHTHEN": // PUSHTHEN v: a push frame dribbled out, then +v
			frame := ">2\r\n$7\r\nmessage\r\n$5\r\nhello\r\n"
			for i := 0; i < len(frame); i++ {
				sc.w.WriteByte(frame[i])
				sc.w.Flush()
				time.Sleep(time.Millisecond)
			}
			sc.w.WriteString("+" + args[1] + "\r\n")
			return true, true
		}
		return false, true
	}))
	o := s.options()
	o.Protocol = RESP3
	var log pushLog
	o.OnPush = log.hook(t)
	g := NewGroup(o, 1, true)
	defer g.Close()
	for i := 0; i < 3; i++ {
		if got := groupValues(t, g, cmd("PUSHTHEN", "x"), cmd("PING")); !reflect.DeepEqual(got, []any{simpleV("x"), simpleV("PONG")}) {
			t.Fatalf("round %d: %#v", i, got)
		}
	}
	want := pushV{bulkV("message"), bulkV("hello")}
	if got := log.get(); !reflect.DeepEqual(got, []any{want, want, want}) {
		t.Fatalf("pushes %#v", got)
	}
}

// A stray reply on an idle RESP3 connection (not a push) still fails it:
// the next request goes on a new connection, never reads the stray bytes.
func TestResp3IdleStrayReplyIsNotAPush(t *testing.T) {
	s := newFakeServer(t, serveWith(func(sc *serverConn, args []string) (bool, bool) {
		if strings.ToUpper(args[0]) == "TWICE" { // two replies to one command
			sc.w.WriteString("+one\r\n+two\r\n")
			return true, true
		}
		return false, true
	}))
	o := s.options()
	g := NewGroup(o, 1, true)
	defer g.Close()
	got := groupValues(t, g, cmd("TWICE"))
	if !reflect.DeepEqual(got, []any{simpleV("one")}) {
		// The second reply may arrive with the first (stray bytes: the
		// connection fails after this reply) or later (the idle peek).
		t.Fatalf("got %#v", got)
	}
	time.Sleep(20 * time.Millisecond)
	if got := groupValues(t, g, cmd("CONN")); !reflect.DeepEqual(got, []any{int64(2)}) {
		t.Fatalf("after a stray reply: %#v, want a second connection", got)
	}
}

// HELLO 3 refused as an unknown command (Redis with HELLO renamed away):
// RESP2 from then on, quietly, and no HELLO on later connects.
func TestResp3FallbackWhenHelloUnknown(t *testing.T) {
	o := redisServer(t, "--rename-command", "HELLO", "")
	o.Protocol = RESP3
	o.Init = cmd("CLIENT", "SETNAME", "fallback")
	o.InitCount = 1
	g := NewGroup(o, 2, true)
	defer g.Close()
	got := groupValues(t, g, cmd("HSET", "h", "f", "v"), cmd("HGETALL", "h"), cmd("CLIENT", "GETNAME"))
	if !reflect.DeepEqual(got, []any{int64(1), []any{bulkV("f"), bulkV("v")}, bulkV("fallback")}) {
		t.Fatalf("got %#v (want RESP2 replies)", got)
	}
	if g.Protocol() != RESP2 || !g.o.share().resp2Only.Load() {
		t.Fatalf("protocol %d, resp2Only %v", g.Protocol(), g.o.share().resp2Only.Load())
	}
}

// The fallback is asked once per Options: a fake server counts HELLOs.
func TestResp3FallbackRemembered(t *testing.T) {
	var hellos, names sync.Map
	s := newFakeServer(t, serveWith(func(sc *serverConn, args []string) (bool, bool) {
		switch strings.ToUpper(args[0]) {
		case "HELLO":
			hellos.Store(sc.id, true)
		case "CLIENT":
			names.Store(sc.id, args[2])
			sc.w.WriteString("+OK\r\n")
			return true, true
		}
		return false, true // HELLO: "-ERR unknown command 'HELLO'"
	}))
	s.needAuth.Store(true)
	o := s.options()
	o.Protocol = RESP3
	o.Init = append(cmd("AUTH", testPassword), cmd("CLIENT", "SETNAME", "n")...)
	o.InitCount = 2
	g := NewGroup(o, 3, true)
	defer g.Close()
	groupValues(t, g, cmd("PING")) // the first connect learns that HELLO is unknown
	for i := 0; i < 3; i++ {       // the others connect after it
		var wg sync.WaitGroup
		for j := 0; j < 6; j++ {
			wg.Add(1)
			go func() { defer wg.Done(); groupValues(t, g, cmd("PING")) }()
		}
		wg.Wait()
	}
	n := 0
	hellos.Range(func(_, _ any) bool { n++; return true })
	if n != 1 || g.Protocol() != RESP2 {
		t.Fatalf("HELLO sent on %d connections (want 1), protocol %d", n, g.Protocol())
	}
	if v, ok := names.Load(int64(1)); !ok || v != "n" {
		t.Fatalf("the init after the refused HELLO did not run: %v", v)
	}
}

// A wrong password is still an authentication error with RESP3 asked for;
// the right one leads to RESP3 (AUTH is sent before HELLO).
func TestResp3Auth(t *testing.T) {
	o := redisServer(t, "--requirepass", "s3cret")
	o.Protocol = RESP3
	o.Init = cmd("AUTH", "wrong")
	o.InitCount = 1
	g := NewGroup(o, 1, true)
	err := g.Do(request(cmd("PING")), false, 0)
	var ie *InitError
	if !errors.As(err, &ie) || !ie.IsAuth() || !strings.Contains(ie.Msg, "WRONGPASS") {
		t.Fatalf("wrong password: %v", err)
	}
	g.Close()
	o.Init = cmd("AUTH", "s3cret")
	o.shared = nil
	g = NewGroup(o, 1, true)
	defer g.Close()
	if got := groupValues(t, g, cmd("HSET", "h", "a", "b"), cmd("HGETALL", "h")); !reflect.DeepEqual(got, []any{int64(1), mapV{bulkV("a"), bulkV("b")}}) {
		t.Fatalf("got %#v", got)
	}
	if g.Protocol() != RESP3 {
		t.Fatalf("protocol %d", g.Protocol())
	}
}

// Any other error reply to HELLO fails the connect, naming HELLO.
func TestResp3HelloOtherErrorFails(t *testing.T) {
	s := newFakeServer(t, serveWith(func(sc *serverConn, args []string) (bool, bool) {
		if strings.ToUpper(args[0]) == "HELLO" {
			sc.w.WriteString("-ERR something else broke\r\n")
			return true, true
		}
		return false, true
	}))
	o := s.options()
	o.Protocol = RESP3
	g := NewGroup(o, 1, true)
	defer g.Close()
	err := g.Do(request(cmd("PING")), false, 0)
	var ie *InitError
	if !errors.As(err, &ie) || ie.Command != "HELLO" || ie.IsAuth() {
		t.Fatalf("got %v", err)
	}
}

func TestWithHello(t *testing.T) {
	for _, tc := range []struct {
		init [][]string
		at   int
	}{
		{nil, 0},
		{[][]string{{"SELECT", "1"}}, 0},
		{[][]string{{"AUTH", "p"}}, 1},
		{[][]string{{"AUTH", "u", "p"}, {"SELECT", "2"}, {"CLIENT", "SETNAME", "x"}}, 1},
	} {
		var init []byte
		for _, c := range tc.init {
			init = appendCmd(init, c...)
		}
		out, at := withHello(init)
		words := initCommands(out)
		if at != tc.at || len(words) != len(tc.init)+1 || !reflect.DeepEqual(words[at], []string{"HELLO", "3"}) {
			t.Fatalf("%v: at %d, words %v", tc.init, at, words)
		}
	}
}

// Invalidations arrive at random moments (another connection keeps
// writing the keys ours reads) while callers share the connection, in the
// synchronous and asynchronous paths: every reply is its request's, every
// push goes to OnPush, and the connection never fails.
func TestResp3PushesUnderConcurrentCallers(t *testing.T) {
	o := redisServer(t)
	o.Protocol = RESP3
	var pushes atomic.Int64
	o.OnPush = func(frame []byte) {
		if v, err := decodeTape(frame); err == nil && len(v) == 1 {
			if p, ok := v[0].(pushV); ok && len(p) == 2 && p[0] == bulkV("invalidate") {
				pushes.Add(1)
			}
		}
	}
	g := NewGroup(o, 1, true)
	defer g.Close()
	groupValues(t, g, cmd("CLIENT", "TRACKING", "ON"))
	writer, err := net.Dial("tcp", o.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	stop := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		r := bufio.NewReader(writer)
		for i := 0; ; i++ {
			select {
			case <-stop:
				wrote <- nil
				return
			default:
			}
			writer.Write(cmd("SET", "k"+strconv.Itoa(i%4), "x"))
			if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
				wrote <- fmt.Errorf("writer: %q %v", line, err)
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	q := NewCompletions(-1)
	defer q.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				key := "k" + strconv.Itoa(i%4)
				req := request(cmd("GET", key), cmd("ECHO", strconv.Itoa(w*1000+i)))
				if err := g.Do(req, false, 0); err != nil {
					errs <- err
					return
				}
				v, err := decodeTape(req.Tape.Buf)
				if err != nil || len(v) != 2 || v[1] != bulkV(strconv.Itoa(w*1000+i)) {
					errs <- fmt.Errorf("worker %d, request %d: %#v %v", w, i, v, err)
					return
				}
				if i%3 == 0 {
					time.Sleep(time.Duration(i%5) * 300 * time.Microsecond) // idle gaps: the drain path
				}
			}
		}(w)
	}
	for i := 0; i < 200; i++ { // the asynchronous path: a reader goroutine meets pushes
		req := &Request{Data: append(cmd("GET", "k1"), cmd("ECHO", "async")...), N: 2, ID: uint64(i)}
		if err := g.Submit(req, q, false, 0, true); err != nil {
			t.Fatalf("Submit: %v", err)
		}
	}
	wg.Wait()
	got := 0
	waitFor(t, 10*time.Second, "the asynchronous replies", func() bool {
		for _, r := range q.Poll(10 * time.Millisecond) {
			v, err := decodeTape(r.Tape.Buf)
			if r.Err != nil || err != nil || len(v) != 2 || v[1] != bulkV("async") {
				t.Fatalf("async reply %#v err %v %v", v, r.Err, err)
			}
			got++
		}
		return got == 200
	})
	close(stop)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if pushes.Load() == 0 || g.DroppedPushes() != 0 {
		t.Fatalf("%d invalidations seen, %d dropped", pushes.Load(), g.DroppedPushes())
	}
	t.Logf("%d invalidations", pushes.Load())
}

// Callers queued behind a connect whose HELLO is never answered fail
// together when it times out, instead of each connecting in turn (which
// took a socket timeout per caller).
func TestResp3SilentServerCallersFailTogether(t *testing.T) {
	s := newFakeServer(t, serveBlackhole)
	o := s.options()
	o.Protocol = RESP3
	o.SocketTimeout = 300 * time.Millisecond
	g := NewGroup(o, 1, true)
	defer g.Close()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	within(t, 4*o.SocketTimeout, "every caller to give up", func() {
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = g.Do(request(cmd("PING")), false, 0)
			}(i)
		}
		wg.Wait()
	})
	for i, err := range errs {
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("caller %d: %v, want ErrTimeout", i, err)
		}
	}
	if n := s.accepts.Load(); n > 2 {
		t.Fatalf("%d connects for one stalled server", n)
	}
}
