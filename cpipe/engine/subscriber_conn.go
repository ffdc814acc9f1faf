package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The subscriber's connection: connecting (dial, the client's init
// commands, MONITOR in monitor mode), callers' commands, and the
// subscription sets they change.

// Set indexes, in Subscriber.confirmed and the notice's counts.
const (
	setChannels = iota
	setPatterns
	setShards
)

// subCommand is what one pub/sub command does to the subscription sets.
type subCommand struct {
	set   int  // setChannels, setPatterns, setShards; -1 for PING
	unsub bool // removes names (all of the set when none are given)
}

var subCommands = map[string]subCommand{
	"SUBSCRIBE": {setChannels, false}, "UNSUBSCRIBE": {setChannels, true},
	"PSUBSCRIBE": {setPatterns, false}, "PUNSUBSCRIBE": {setPatterns, true},
	"SSUBSCRIBE": {setShards, false}, "SUNSUBSCRIBE": {setShards, true},
	"PING": {-1, false},
}

// Send writes RESP-encoded pub/sub commands (see subCommands) from the
// calling thread and records what they subscribe to. Replies arrive as
// messages, through Poll, in order. The first Send connects, in the
// calling thread (interrupt as Request.Interrupt); so does one after the
// reader gave up reconnecting, re-subscribing everything first. While the
// reader is reconnecting a subscription change is only recorded: the
// re-subscription carries it, and a PING fails with a ConnError.
func (s *Subscriber) Send(data []byte, interrupt func() bool) error {
	cmds := initCommands(data)
	if len(cmds) == 0 || s.o.Monitor {
		return ErrSubCommand
	}
	for _, c := range cmds {
		if len(c) == 0 {
			return ErrSubCommand
		}
		if _, ok := subCommands[strings.ToUpper(c[0])]; !ok {
			return fmt.Errorf("%w, not %s", ErrSubCommand, strings.ToUpper(c[0]))
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	if !s.running {
		return s.startLocked(data, cmds, interrupt)
	}
	if s.fd == nil { // reconnecting: the re-subscription will carry the change
		for _, c := range cmds {
			if strings.ToUpper(c[0]) == "PING" {
				return &ConnError{errors.New("the pub/sub connection is reconnecting")}
			}
		}
		s.recordLocked(cmds)
		return nil
	}
	err := writeAll(s.fd, data, nil, &stallCheck{timeout: s.o.Conn.SocketTimeout, tick: s.o.Conn.tick()})
	if err != nil {
		// The reader sees the socket fail too and reconnects; subscription
		// changes are carried by the re-subscription, a PING is not.
		s.fd.shutdown()
		for _, c := range cmds {
			if strings.ToUpper(c[0]) == "PING" {
				return err
			}
		}
	}
	s.recordLocked(cmds)
	return nil
}

// recordLocked applies commands to the subscription sets (wmu held).
func (s *Subscriber) recordLocked(cmds [][]string) {
	for _, c := range cmds {
		sc := subCommands[strings.ToUpper(c[0])]
		if sc.set < 0 {
			continue
		}
		set := [3]*nameSet{s.channels, s.patterns, s.shards}[sc.set]
		switch {
		case !sc.unsub:
			for _, n := range c[1:] {
				set.add(n)
			}
		case len(c) == 1:
			set.clear()
		default:
			for _, n := range c[1:] {
				set.remove(n)
			}
		}
	}
}

// Start connects a MONITOR-mode Subscriber (in the calling thread) and
// starts its reader; the server's +OK to MONITOR has been read when it returns.
func (s *Subscriber) Start(interrupt func() bool) error {
	if !s.o.Monitor {
		return ErrSubCommand
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	if s.running {
		return nil
	}
	return s.startLocked(nil, nil, interrupt)
}

// startLocked connects in the caller's thread, re-subscribes what the sets
// hold (after the reader gave up), sends data, and starts the reader.
func (s *Subscriber) startLocked(data []byte, cmds [][]string, interrupt func() bool) error {
	lost := s.takeErr()
	fd, extra, err := s.connectInterruptible(interrupt)
	if err != nil {
		s.restoreErr(lost)
		return err
	}
	resub, expect := s.resubscriptionLocked()
	if err := writeAll(fd, append(resub, data...), nil, &stallCheck{timeout: s.o.Conn.SocketTimeout, tick: s.o.Conn.tick()}); err != nil {
		fd.close()
		s.restoreErr(lost)
		return err
	}
	s.recordLocked(cmds)
	var rs *resubState
	if lost != nil { // the reader had given up: this connect ends the gap
		rs = &resubState{expect: expect, cause: lost, since: s.lostAt, attempts: 1, counts: s.counts()}
	}
	if !s.install(fd) {
		fd.close()
		return ErrClosed
	}
	s.running = true
	go s.readLoop(fd, extra, rs)
	return nil
}

func (s *Subscriber) takeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	s.err = nil
	return err
}

func (s *Subscriber) restoreErr(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// install makes fd the live connection (wmu held); false if closed meanwhile.
func (s *Subscriber) install(fd *sock) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.liveFd = fd
	s.fd = fd
	for i := range s.confirmed {
		s.confirmed[i] = map[string]struct{}{}
	}
	return true
}

// counts is the size of each subscription set (wmu held).
func (s *Subscriber) counts() [3]int {
	return [3]int{len(s.channels.names), len(s.patterns.names), len(s.shards.names)}
}

// resubscriptionLocked encodes SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE of
// every name in the sets, and the number of confirmations they will bring.
func (s *Subscriber) resubscriptionLocked() ([]byte, int) {
	var b []byte
	n := 0
	for i, set := range []*nameSet{s.channels, s.patterns, s.shards} {
		if len(set.names) == 0 {
			continue
		}
		b = appendCommand(b, []string{"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"}[i], set.names)
		n += len(set.names)
	}
	return b, n
}

func appendCommand(b []byte, name string, args []string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(1+len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range append([]string{name}, args...) {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// connectInterruptible dials and initialises from a goroutine while the
// caller watches interrupt each tick; an abandoned connect's socket is
// closed when it completes.
type subDialResult struct {
	fd    *sock
	extra []byte
	err   error
}

func (s *Subscriber) connectInterruptible(interrupt func() bool) (*sock, []byte, error) {
	if interrupt == nil {
		return s.dialAndInit()
	}
	done := make(chan subDialResult, 1)
	go func() {
		fd, extra, err := s.dialAndInit()
		done <- subDialResult{fd, extra, err}
	}()
	for {
		if r, ok := waitOrTick(done, interruptTick); ok {
			return r.fd, r.extra, r.err
		}
		if interrupt() {
			go func() {
				if r := <-done; r.err == nil {
					r.fd.close()
				}
			}()
			return nil, nil, ErrInterrupted
		}
	}
}

// dialAndInit connects as the client's other connections do (dial, then
// the init commands: AUTH, SELECT, CLIENT SETNAME), then sends MONITOR in
// monitor mode; an error reply fails the connect with an InitError.
func (s *Subscriber) dialAndInit() (*sock, []byte, error) {
	fd, _, err := dialServer(&s.o.Conn)
	if err != nil {
		return nil, nil, err
	}
	init, n := s.o.Conn.Init, s.o.Conn.InitCount
	if s.o.Monitor {
		init = appendCommand(append([]byte(nil), init...), "MONITOR", nil)
		n++
	}
	if n == 0 {
		return fd, nil, nil
	}
	if err := writeAll(fd, init, nil, &stallCheck{timeout: s.o.Conn.SocketTimeout, tick: s.o.Conn.tick()}); err != nil {
		fd.close()
		return nil, nil, err
	}
	tape, extra, err := s.readInitReplies(fd, n)
	if err != nil {
		fd.close()
		return nil, nil, err
	}
	if len(extra) > 0 && !s.o.Monitor {
		// Nothing is subscribed yet: no bytes may follow the init replies.
		fd.close()
		return nil, nil, strayBytes(extra)
	}
	for i := 0; i < n && len(tape) > 0; i++ {
		if tape[0] == KindError {
			l := int(leUint64(tape[1:]))
			fd.close()
			name := initCommandName(s.o.Conn.Init, i)
			if i == s.o.Conn.InitCount {
				name = "MONITOR"
			}
			return nil, nil, &InitError{Msg: string(tape[9 : 9+l]), Command: name}
		}
		tape = skipEntry(tape)
	}
	return fd, extra, nil
}

// readInitReplies reads n replies. Bytes after them are returned (the
// first MONITOR lines may come in the same read as its +OK): the reader
// goroutine starts with them.
func (s *Subscriber) readInitReplies(fd *sock, n int) ([]byte, []byte, error) {
	var rd Reader
	var t Tape
	buf := make([]byte, 4096)
	r, w, got := 0, 0, 0
	var since int64
	for got < n {
		for r < w && got < n {
			m, done, _, err := rd.Scan(buf[r:w], &t)
			if err != nil {
				return nil, nil, err
			}
			r += m
			if !done {
				break
			}
			got++
		}
		if got == n {
			break
		}
		if r > 0 {
			w = copy(buf, buf[r:w])
			r = 0
		}
		if w == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		m, err := readSome(fd, buf[w:])
		if err == errTick {
			if s.isClosed() {
				return nil, nil, ErrClosed
			}
			if since == 0 {
				since = nanotime()
			}
			if to := s.o.Conn.SocketTimeout; to > 0 && nanotime()-since >= int64(to) {
				return nil, nil, ErrTimeout
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		since = 0
		w += m
	}
	return t.Buf, append([]byte(nil), buf[r:w]...), nil
}

// resp2Init rewrites init commands for a RESP2 connection: a HELLO is
// replaced by the AUTH and CLIENT SETNAME it carried.
func resp2Init(init []byte) ([]byte, int) {
	cmds := initCommands(init)
	var out []byte
	n := 0
	for _, c := range cmds {
		if len(c) == 0 {
			continue
		}
		if !strings.EqualFold(c[0], "HELLO") {
			out = appendCommand(out, c[0], c[1:])
			n++
			continue
		}
		for i := 2; i < len(c); i++ {
			switch {
			case strings.EqualFold(c[i], "AUTH") && i+2 < len(c):
				out = appendCommand(out, "AUTH", c[i+1:i+3])
				n++
				i += 2
			case strings.EqualFold(c[i], "SETNAME") && i+1 < len(c):
				out = appendCommand(out, "CLIENT", []string{"SETNAME", c[i+1]})
				n++
				i++
			}
		}
	}
	return out, n
}
