package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Decoded tape values, typed so that reflect.DeepEqual tells a bulk string
// from a status line or an error with the same text.
type (
	bulkV   string
	simpleV string
	errV    string
	// RESP3 entries.
	mapV    []any // key, value, key, value ...
	setV    []any
	pushV   []any
	doubleV uint64 // float64 bits, so NaN compares equal to itself
	boolV   bool
	bigV    string
	verbV   string // with its "fmt:" prefix
)

func dbl(f float64) doubleV { return doubleV(math.Float64bits(f)) }

// decodeTape turns a tape back into Go values: bulkV, simpleV, errV, int64,
// []any and nil. It rejects truncated or unknown entries, so it also checks
// the tape grammar documented in tape.go.
func decodeTape(b []byte) ([]any, error) {
	var out []any
	for len(b) > 0 {
		v, rest, err := decodeEntry(b, 0)
		if err != nil {
			return out, err
		}
		if got := skipEntry(b); len(got) != len(rest) {
			return out, fmt.Errorf("skipEntry skipped to %d bytes left, decoder to %d", len(got), len(rest))
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

func decodeEntry(b []byte, depth int) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errors.New("tape: missing entry")
	}
	if depth > MaxDepth+1 {
		return nil, nil, errors.New("tape: nested too deep")
	}
	kind := b[0]
	if kind == KindNil {
		return nil, b[1:], nil
	}
	if len(b) < 9 {
		return nil, nil, fmt.Errorf("tape: truncated header for %q", kind)
	}
	v := int64(leUint64(b[1:]))
	b = b[9:]
	switch kind {
	case KindInt:
		return v, b, nil
	case KindDouble:
		return doubleV(uint64(v)), b, nil
	case KindBool:
		if v != 0 && v != 1 {
			return nil, nil, fmt.Errorf("tape: bool %d", v)
		}
		return boolV(v == 1), b, nil
	case KindBulk, KindSimple, KindError, KindBigNum, KindVerbatim:
		if v < 0 || int64(len(b)) < v {
			return nil, nil, fmt.Errorf("tape: bad length %d for %q (%d bytes left)", v, kind, len(b))
		}
		s := string(b[:v])
		b = b[v:]
		switch kind {
		case KindBulk:
			return bulkV(s), b, nil
		case KindSimple:
			return simpleV(s), b, nil
		case KindBigNum:
			return bigV(s), b, nil
		case KindVerbatim:
			return verbV(s), b, nil
		default:
			return errV(s), b, nil
		}
	case KindArray, KindMap, KindSet, KindPush:
		if v < 0 {
			return nil, nil, fmt.Errorf("tape: negative %q count %d", kind, v)
		}
		n := v
		if kind == KindMap {
			n = 2 * v
		}
		arr := make([]any, 0, min(n, 1024))
		for i := int64(0); i < n; i++ {
			var e any
			var err error
			e, b, err = decodeEntry(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			arr = append(arr, e)
		}
		switch kind {
		case KindMap:
			return mapV(arr), b, nil
		case KindSet:
			return setV(arr), b, nil
		case KindPush:
			return pushV(arr), b, nil
		}
		return arr, b, nil
	}
	return nil, nil, fmt.Errorf("tape: unknown kind %q", kind)
}

func mustDecode(t testing.TB, b []byte) []any {
	t.Helper()
	v, err := decodeTape(b)
	if err != nil {
		t.Fatalf("decoding tape: %v", err)
	}
	return v
}

// cmd encodes one command as a RESP array of bulk strings.
func cmd(args ...string) []byte {
	return appendCmd(nil, args...)
}

func appendCmd(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// cmds builds a Request from commands.
func request(commands ...[]byte) *Request {
	return &Request{Data: bytes.Join(commands, nil), N: len(commands)}
}

// within runs f and fails the test if it has not returned after d. The
// goroutine is left behind on failure; the fake server's cleanup closes its
// sockets, which unblocks it.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v", what, d)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// A tiny RESP server on loopback.

type fakeServer struct {
	t       testing.TB
	ln      net.Listener
	accepts atomic.Int64
	handle  func(sc *serverConn)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed chan struct{}

	// Counters the default handler keeps.
	commands atomic.Int64 // commands read, all connections
	auths    atomic.Int64 // AUTH commands read
	maxBatch atomic.Int64 // most commands answered in one flush
	needAuth atomic.Bool  // answer NOAUTH until AUTH succeeds
}

type serverConn struct {
	net.Conn
	srv    *fakeServer
	r      *bufio.Reader
	w      *bufio.Writer
	id     int64 // 1 for the first accepted connection
	authed bool

	flushDelay time.Duration
}

// newFakeServer listens on 127.0.0.1 (or a unix socket when unix is set)
// and runs handle for each connection; nil means serveDefault.
func newFakeServer(t testing.TB, handle func(sc *serverConn)) *fakeServer {
	return newFakeServerOn(t, "tcp", "127.0.0.1:0", handle)
}

func newFakeServerOn(t testing.TB, network, addr string, handle func(sc *serverConn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &fakeServer{t: t, ln: ln, handle: handle, conns: map[net.Conn]struct{}{}, closed: make(chan struct{})}
	if s.handle == nil {
		s.handle = serveDefault
	}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		id := s.accepts.Add(1)
		s.mu.Lock()
		select {
		case <-s.closed:
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			sc := &serverConn{Conn: c, srv: s, r: bufio.NewReaderSize(c, 16<<10), w: bufio.NewWriterSize(c, 16<<10), id: id}
			s.handle(sc)
		}()
	}
}

// Close stops accepting, closes every connection and waits for handlers.
func (s *fakeServer) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		return
	default:
	}
	close(s.closed)
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// closeConns drops every current connection but keeps listening.
func (s *fakeServer) closeConns() {
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

func (s *fakeServer) options() Options {
	if s.ln.Addr().Network() == "unix" {
		return Options{UnixPath: s.ln.Addr().String(), SocketTimeout: 10 * time.Second, ConnectTimeout: 5 * time.Second}
	}
	a := s.ln.Addr().(*net.TCPAddr)
	return Options{Host: "127.0.0.1", Port: a.Port, SocketTimeout: 10 * time.Second, ConnectTimeout: 5 * time.Second}
}

// readCommand reads one RESP array of bulk strings.
func (sc *serverConn) readCommand() ([]string, error) {
	line, err := sc.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[0] != '*' {
		return nil, fmt.Errorf("fake server: bad command line %q", line)
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		line, err = sc.r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(line) < 3 || line[0] != '$' {
			return nil, fmt.Errorf("fake server: bad bulk header %q", line)
		}
		l, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil {
			return nil, err
		}
		buf := make([]byte, l+2)
		if _, err := io.ReadFull(sc.r, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:l])
	}
	return args, nil
}

func (sc *serverConn) bulk(s string) {
	sc.w.WriteString("$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n")
}

// serveDefault answers commands, flushing only when no more input is
// buffered: while a flush blocks, nothing more is read, as a server that
// stops reading when its client does not read.
func serveDefault(sc *serverConn) { serveWith(nil)(sc) }

// serveWith is serveDefault with a hook that may answer a command itself
// (handled) and may hang up (keep false).
func serveWith(hook func(sc *serverConn, args []string) (handled, keep bool)) func(*serverConn) {
	return func(sc *serverConn) {
		batch := int64(0)
		for {
			args, err := sc.readCommand()
			if err != nil {
				return
			}
			sc.srv.commands.Add(1)
			batch++
			handled, keep := false, true
			if hook != nil {
				handled, keep = hook(sc, args)
			}
			if !handled {
				keep = sc.dispatch(args)
			}
			if !keep {
				sc.w.Flush()
				return
			}
			if sc.r.Buffered() == 0 {
				for {
					m := sc.srv.maxBatch.Load()
					if batch <= m || sc.srv.maxBatch.CompareAndSwap(m, batch) {
						break
					}
				}
				batch = 0
				if sc.flushDelay > 0 {
					time.Sleep(sc.flushDelay)
				}
				if sc.w.Flush() != nil {
					return
				}
			}
		}
	}
}

// serveSlow answers like serveDefault but pauses before each flush, so
// commands pile up.
func serveSlow(d time.Duration) func(*serverConn) {
	return func(sc *serverConn) {
		sc.flushDelay = d
		serveDefault(sc)
	}
}

// serveBlackhole reads and counts commands and never answers.
func serveBlackhole(sc *serverConn) {
	for {
		if _, err := sc.readCommand(); err != nil {
			return
		}
		sc.srv.commands.Add(1)
	}
}

// gatedReader lets through only as many bytes as *budget allows, waiting
// for the budget to grow: a server that stops reading on command.
type gatedReader struct {
	r      io.Reader
	budget *atomic.Int64
	read   int64
}

func (g *gatedReader) Read(p []byte) (int, error) {
	for g.budget.Load() <= g.read {
		time.Sleep(time.Millisecond)
	}
	if room := g.budget.Load() - g.read; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

const testPassword = "sesame"

// dispatch writes the reply to one command; false means hang up.
func (sc *serverConn) dispatch(args []string) bool {
	name := strings.ToUpper(args[0])
	if name == "AUTH" {
		sc.srv.auths.Add(1)
		if len(args) == 2 && args[1] == testPassword {
			sc.authed = true
			sc.w.WriteString("+OK\r\n")
		} else {
			sc.w.WriteString("-WRONGPASS invalid username-password pair\r\n")
		}
		return true
	}
	if sc.srv.requireAuth() && !sc.authed {
		sc.w.WriteString("-NOAUTH Authentication required.\r\n")
		return true
	}
	switch name {
	case "PING":
		sc.w.WriteString("+PONG\r\n")
	case "ECHO":
		sc.bulk(args[1])
	case "CONN": // which connection answered
		sc.w.WriteString(":" + strconv.FormatInt(sc.id, 10) + "\r\n")
	case "INT":
		sc.w.WriteString(":" + args[1] + "\r\n")
	case "NIL":
		sc.w.WriteString("$-1\r\n")
	case "ERR":
		sc.w.WriteString("-ERR " + args[1] + "\r\n")
	case "SELECT":
		if args[1] == "0" {
			sc.w.WriteString("+OK\r\n")
		} else {
			sc.w.WriteString("-ERR DB index is out of range\r\n")
		}
	case "ARR": // ARR a b c -> array of the arguments, with a nested pair
		sc.w.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
		for _, a := range args[1:] {
			sc.bulk(a)
		}
		sc.w.WriteString("*2\r\n:1\r\n$-1\r\n")
	case "BIG": // BIG n -> a bulk of n bytes
		n, _ := strconv.Atoi(args[1])
		sc.bulk(strings.Repeat("x", n))
	case "SLEEP": // SLEEP ms value -> value, after ms
		ms, _ := strconv.Atoi(args[1])
		sc.w.Flush()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		sc.bulk(args[2])
	case "NOREPLY":
		// never answers; later commands on this connection are not read
		sc.w.Flush()
		sc.waitClosed()
		return false
	case "CLOSE":
		return false
	case "HALF": // a reply cut short, then hang up
		sc.w.WriteString("$10\r\nabc")
		return false
	case "SINK": // SINK anything -> +OK
		sc.w.WriteString("+OK\r\n")
	case "GARBAGE":
		sc.w.WriteString("!garbage\r\n")
	default:
		sc.w.WriteString("-ERR unknown command '" + args[0] + "'\r\n")
	}
	return true
}

// waitClosed blocks until the client hangs up or the server closes.
func (sc *serverConn) waitClosed() {
	io.Copy(io.Discard, sc.r)
}

func (s *fakeServer) requireAuth() bool { return s.needAuth.Load() }

// ---------------------------------------------------------------------------
// Engine bugs that crash the process (a panic in a goroutine) are shown in a
// child process, so one crash fails one test instead of the whole binary.

const childEnv = "CPIPE_ENGINE_TEST_CHILD"

// inChild reports whether this is the child run of test t; otherwise it
// runs t alone in a child process and fails t if the child fails.
func inChild(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.timeout="+timeout.String())
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		s := string(out)
		if i := strings.Index(s, "panic:"); i >= 0 {
			s = s[i:]
		}
		if len(s) > 3000 {
			s = s[:3000] + "\n..."
		}
		t.Fatalf("child process failed (%v):\n%s", err, s)
	}
	return false
}
