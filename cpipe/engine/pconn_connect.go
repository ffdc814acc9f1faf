package engine

import (
	"errors"
	"fmt"
	"strings"
)

// Connecting happens with the connection's lock released, so a caller that
// waits for it can still be interrupted, and Close never waits for a dial.
// c.connecting keeps every other caller and both roles away meanwhile.

type dialResult struct {
	fd  *sock
	err error
}

// connectLocked dials and runs the init commands; the roles are free. An
// interruptible caller dials from a goroutine and watches for a signal; if
// one comes it returns ErrInterrupted and the goroutine finishes the
// connect for whoever comes next.
func (c *PConn) connectLocked(req *Request) error {
	if c.o.ConnectOnce && c.connectedOnce {
		return c.refuseReconnectLocked()
	}
	if c.fd != nil {
		c.fd.close()
		c.fd = nil
	}
	c.broken = nil
	c.rr, c.rw = 0, 0
	c.rd.Reset()
	c.connecting = true
	c.mu.Unlock()
	if req.Interrupt == nil {
		fd, err := c.dialAndInit()
		c.mu.Lock()
		return c.connectedLocked(fd, err)
	}
	done := make(chan dialResult, 1)
	go func() {
		fd, err := c.dialAndInit()
		done <- dialResult{fd, err}
	}()
	for {
		if r, ok := waitOrTick(done, interruptTick); ok {
			c.mu.Lock()
			return c.connectedLocked(r.fd, r.err)
		}
		if req.interruptedNow() {
			go func() {
				r := <-done
				c.mu.Lock()
				c.connectedLocked(r.fd, r.err) // nobody waits for its error
				c.mu.Unlock()
			}()
			c.mu.Lock()
			return ErrInterrupted
		}
	}
}

// connectedLocked ends a connect: the connection is usable, or err says why not.
func (c *PConn) connectedLocked(fd *sock, err error) error {
	c.connecting = false
	c.changed.Broadcast()
	if err != nil {
		if errors.Is(err, ErrTimeout) {
			c.timedOut.Store(nanotime()) // for the callers that waited for it (admitLocked)
		}
		return err
	}
	if c.closed {
		fd.close()
		return ErrClosed
	}
	c.fd = fd
	c.connectedOnce = true
	return nil
}

// refuseReconnectLocked is connectLocked under Options.ConnectOnce once a
// connection has been up: the lost connection's socket is released (the
// roles are free) and every request from now on gets the same ConnError,
// naming why the connection was lost.
func (c *PConn) refuseReconnectLocked() error {
	if c.fd != nil {
		c.fd.close()
		c.fd = nil
	}
	if c.lost == nil {
		cause := c.broken
		if cause == nil {
			cause = errors.New("the connection was closed")
		}
		c.lost = &ConnError{fmt.Errorf("the connection to %s was lost and is not replaced, "+
			"since a new one would not carry its state (WATCH): %w", c.o.Addr(), cause)}
	}
	return c.lost
}

// dialAndInit runs with the lock released; c.connecting gives it the
// reader's buffer and state.
func (c *PConn) dialAndInit() (*sock, error) {
	for {
		fd, again, err := c.dialAndInitOnce()
		if !again {
			return fd, err
		}
	}
}

// dialAndInitOnce is one attempt of dialAndInit. again: HELLO 3 fell back
// to RESP2 in a batch that enabled in-band tracking (CLIENT TRACKING ON
// without REDIRECT), which a RESP2 connection would never hear from; the
// connection was closed, and the next attempt, now in RESP2 (the fallback
// is remembered in resp2Only, so there is at most one more), redirects.
func (c *PConn) dialAndInitOnce() (fd *sock, again bool, err error) {
	var to dialed
	fd, to, err = dialServer(c.o)
	if err != nil {
		return nil, false, err
	}
	c.rcvTick = c.o.tick()
	init, count, helloAt := c.o.Init, c.o.InitCount, -1
	shared := c.o.share()
	if c.o.Protocol == RESP3 && !shared.resp2Only.Load() {
		init, helloAt = withHello(c.o.Init)
		count++
	}
	inBand := false
	if c.o.Tracking != nil {
		// Client-side caching: CLIENT TRACKING for this connection (tracking.go).
		extra, m, err := c.o.Tracking.initFor(c, helloAt >= 0)
		if err != nil {
			fd.close()
			return nil, false, err
		}
		inBand = m > 0 && helloAt >= 0
		init, count = append(init[:len(init):len(init)], extra...), count+m
	}
	proto := RESP2
	if count > 0 {
		if proto, err = c.runInit(fd, init, count, helloAt); err != nil {
			fd.close()
			if inBand && shared.resp2Only.Load() {
				// HELLO fell back and the in-band CLIENT TRACKING was refused
				// in RESP2: the RESP2 attempt says what is really wrong, if anything.
				c.rr, c.rw = 0, 0
				c.rd.Reset()
				c.o.Tracking.fellBack(c)
				return nil, true, nil
			}
			return nil, false, err
		}
	}
	if inBand && proto != RESP3 {
		fd.close()
		c.rr, c.rw = 0, 0
		c.rd.Reset()
		c.o.Tracking.fellBack(c)
		return nil, true, nil
	}
	if again, err := c.checkDialed(fd, to); again || err != nil {
		// Sentinel: not the role asked for, or the master moved meanwhile (sentinel_conn.go).
		fd.close()
		c.rr, c.rw = 0, 0
		c.rd.Reset()
		return nil, again, err
	}
	c.addr = to.addr
	shared.proto.Store(int32(proto))
	return fd, false, nil
}

// runInit sends the init commands (init, count of them, HELLO 3 the
// helloAt-th or -1) and reads their replies; it returns the protocol the
// connection speaks from now on.
func (c *PConn) runInit(fd *sock, init []byte, count, helloAt int) (int, error) {
	st := stallCheck{timeout: c.o.SocketTimeout, tick: c.o.tick()}
	if err := writeAll(fd, init, nil, &st); err != nil {
		return 0, err
	}
	req := &Request{N: count}
	if err := c.readReplies(fd, req, nil); err != nil {
		return 0, err
	}
	if c.rr < c.rw && !c.rd.InPush() {
		return 0, strayBytes(c.rbuf[c.rr:c.rw])
	}
	// Report the first error reply, if any, naming the command it answered.
	proto := RESP2
	b := req.Tape.Buf
	for i := 0; i < req.N && len(b) > 0; i++ {
		if b[0] == KindError {
			msg := string(b[9 : 9+int(leUint64(b[1:]))])
			if i != helloAt || !helloUnknown(msg) {
				return 0, &InitError{Msg: msg, Command: initCommandName(init, i)}
			}
			// The server does not speak RESP3: RESP2 from now on, for
			// every connection of these Options, without asking again.
			c.o.share().resp2Only.Store(true)
		} else if i == helloAt {
			proto = RESP3
		}
		b = skipEntry(b)
	}
	return proto, nil
}

// helloCommand is HELLO 3 as the bridge encodes commands.
var helloCommand = []byte("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")

// withHello returns init with HELLO 3 inserted after its leading AUTH
// commands (a server that requires a password refuses HELLO before AUTH),
// and HELLO's index among the commands.
func withHello(init []byte) ([]byte, int) {
	at, i := 0, 0
	for _, cmd := range splitCommands(init) {
		if len(cmd.words) == 0 || !strings.EqualFold(cmd.words[0], "AUTH") {
			break
		}
		at += cmd.size
		i++
	}
	out := make([]byte, 0, len(init)+len(helloCommand))
	out = append(append(append(out, init[:at]...), helloCommand...), init[at:]...)
	return out, i
}

// helloUnknown reports whether an error reply to HELLO 3 means the server
// cannot speak RESP3 to us: it has no HELLO (before Redis 6, or renamed
// away), no RESP3 (NOPROTO), or the user may not run HELLO (NOPERM).
func helloUnknown(msg string) bool {
	return strings.HasPrefix(msg, "NOPROTO") || strings.HasPrefix(msg, "NOPERM") ||
		strings.HasPrefix(strings.ToLower(msg), "err unknown command")
}

// InitError is an error reply to one of Options.Init (AUTH, SELECT, ...).
type InitError struct {
	Msg     string // the server's error reply
	Command string // what it answered, without secrets: "AUTH", "SELECT 99"
}

// IsAuth reports whether the failed command was the authentication.
func (e *InitError) IsAuth() bool { return e.Command == "AUTH" }

func (e *InitError) Error() string {
	if e.IsAuth() || e.Command == "" || e.Command == "HELLO" {
		// The message as redis-py maps it (AuthenticationError for AUTH;
		// ConnectionError for "max number of clients reached", which a
		// full server answers to the first command, HELLO when RESP3 is
		// asked for, as redis-py sends it too).
		return e.Msg
	}
	return e.Msg + " (reply to " + e.Command + ", sent while connecting)"
}

// initCommandName describes the i-th command of init, RESP-encoded arrays of
// bulk strings as the bridge writes them. AUTH and HELLO carry a password,
// so only their name is given; other commands show up to three words.
func initCommandName(init []byte, i int) string {
	words := initCommands(init)
	if i >= len(words) || len(words[i]) == 0 {
		return ""
	}
	cmd := words[i]
	name := strings.ToUpper(cmd[0])
	if name == "AUTH" || name == "HELLO" {
		return name
	}
	if len(cmd) > 3 {
		cmd = cmd[:3]
	}
	cmd[0] = name
	return strings.Join(cmd, " ")
}

// initCommands splits RESP-encoded commands back into their words; it
// stops at anything it does not understand (the bridge made these bytes).
func initCommands(b []byte) [][]string {
	var out [][]string
	for _, cmd := range splitCommands(b) {
		out = append(out, cmd.words)
	}
	return out
}

type rawCommand struct {
	words []string
	size  int // bytes of its encoding
}

func splitCommands(b []byte) []rawCommand {
	var out []rawCommand
	for len(b) > 0 && b[0] == '*' {
		start := len(b)
		n, rest, ok := respHeader(b[1:])
		if !ok {
			break
		}
		b = rest
		var cmd []string
		for j := 0; j < n && len(b) > 0 && b[0] == '$'; j++ {
			size, rest, ok := respHeader(b[1:])
			if !ok || len(rest) < size+2 {
				return out
			}
			cmd = append(cmd, string(rest[:size]))
			b = rest[size+2:]
		}
		out = append(out, rawCommand{cmd, start - len(b)})
	}
	return out
}

// respHeader parses "<digits>\r\n" and returns the number and what follows.
func respHeader(b []byte) (int, []byte, bool) {
	n, i := 0, 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		i++
	}
	if i == 0 || len(b) < i+2 || b[i] != '\r' || b[i+1] != '\n' {
		return 0, nil, false
	}
	return n, b[i+2:], true
}
