package engine

import (
	"bytes"
	"fmt"
	"time"
)

// The subscriber's reader goroutine: it scans messages into the queue,
// and after a connection loss reconnects with backoff, re-subscribes, and
// delivers the reconnect notice.
//
// The reconnect notice is one message, a tape array of 7 entries:
//
//	bulk "reconnect", bulk cause (why the connection was lost),
//	int down_ms (from the loss to the new connection), int attempts (dials),
//	int channels, int patterns, int shard_channels (re-subscribed)
//
// It follows the confirmations of the re-subscription (one subscribe,
// psubscribe or ssubscribe message per name, as the server sends them) and
// comes before any other message of the new connection: a message that
// arrives between two confirmations is held back until the notice is out.
// Every message published before the notice that this connection was not
// subscribed to when it was published is lost; none after it.

// resubState follows a re-subscription until its last confirmation.
type resubState struct {
	expect   int // confirmations still to come
	cause    error
	since    time.Time // when the connection was lost
	attempts int
	counts   [3]int
	held     []byte // messages that arrived before the last confirmation
	heldN    int
}

// readLoop owns the connection fd until Close, or until it gives up.
func (s *Subscriber) readLoop(fd *sock, extra []byte, rs *resubState) {
	for {
		cause := s.readConn(fd, extra, rs)
		s.wmu.Lock()
		s.fd = nil
		s.mu.Lock()
		s.liveFd = nil
		closed := s.closed
		s.mu.Unlock()
		s.wmu.Unlock()
		fd.close()
		if closed {
			return
		}
		lostAt := time.Now()
		if s.o.Monitor {
			s.giveUp(&ConnError{fmt.Errorf("the MONITOR connection to %s was lost: %w", s.o.Conn.Addr(), cause)}, lostAt)
			return
		}
		var err error
		fd, extra, rs, err = s.reconnect(cause, lostAt)
		if err != nil {
			s.giveUp(err, lostAt)
			return
		}
	}
}

// giveUp ends the reader: Poll returns err once the queue is drained, and
// the next Send connects again.
func (s *Subscriber) giveUp(err error, lostAt time.Time) {
	s.wmu.Lock()
	s.running = false
	s.lostAt = lostAt
	s.mu.Lock()
	if !s.closed {
		s.err = err
		s.notified = false
		s.notifyLocked()
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	s.wmu.Unlock()
}

// reconnect dials with backoff until it succeeds, Close, or the
// ReconnectFor bound; then it re-subscribes under wmu, so commands sent
// meanwhile (recorded in the sets) are carried too.
func (s *Subscriber) reconnect(cause error, lostAt time.Time) (*sock, []byte, *resubState, error) {
	delay := subBackoffFirst
	attempts := 0
	limit := s.o.reconnectFor()
	last := cause
	for {
		attempts++
		fd, extra, err := s.dialAndInit()
		if err == nil {
			s.wmu.Lock()
			resub, expect := s.resubscriptionLocked()
			counts := s.counts()
			werr := writeAll(fd, resub, nil, &stallCheck{timeout: s.o.Conn.SocketTimeout, tick: s.o.Conn.tick()})
			ok := werr == nil && s.install(fd)
			if ok {
				s.mu.Lock()
				s.reconnects++
				s.mu.Unlock()
			}
			s.wmu.Unlock()
			if ok {
				return fd, extra, &resubState{expect: expect, cause: cause, since: lostAt, attempts: attempts, counts: counts}, nil
			}
			fd.close()
			if s.isClosed() {
				return nil, nil, nil, ErrClosed
			}
			err = werr
		}
		last = err
		if limit > 0 && time.Since(lostAt)+delay > limit {
			return nil, nil, nil, &ConnError{fmt.Errorf("the pub/sub connection to %s was lost (%v) and not replaced within %v (%d attempts; last: %w)",
				s.o.Conn.Addr(), cause, limit, attempts, last)}
		}
		t := time.NewTimer(delay)
		select {
		case <-s.closing:
			t.Stop()
			return nil, nil, nil, ErrClosed
		case <-t.C:
		}
		if delay *= 2; delay > subBackoffCap {
			delay = subBackoffCap
		}
	}
}

// readConn reads messages until the connection fails or Close; it
// returns why it stopped.
func (s *Subscriber) readConn(fd *sock, extra []byte, rs *resubState) error {
	if rs != nil && rs.expect == 0 {
		if !s.enqueue(rs.notice(), 1) {
			return ErrClosed
		}
		rs = nil
	}
	var rd Reader
	var scan, out Tape // scan: the message being scanned; out: the batch
	buf := make([]byte, max(readBufSize, 2*len(extra)))
	r, w, outN, need := 0, copy(buf, extra), 0, 0
	flush := func() bool {
		if outN == 0 {
			return true
		}
		ok := s.enqueue(out.Buf, outN)
		out.Reset()
		outN = 0
		return ok
	}
	for {
		for r < w {
			m, done, more, err := rd.Scan(buf[r:w], &scan)
			if err != nil {
				return err
			}
			r += m
			if !done {
				need = more
				break
			}
			msg := scan.Buf
			s.confirm(msg)
			if rs == nil {
				out.Buf = append(out.Buf, msg...)
				outN++
			} else if isSubscribeConfirmation(msg) {
				out.Buf = append(out.Buf, msg...)
				outN++
				if rs.expect--; rs.expect == 0 {
					out.Buf = append(out.Buf, rs.notice()...)
					out.Buf = append(out.Buf, rs.held...)
					outN += 1 + rs.heldN
					rs = nil
				}
			} else {
				rs.held = append(rs.held, msg...)
				rs.heldN++
			}
			scan.Reset()
			if outN >= subBatchMessages || len(out.Buf) >= subBatchBytes {
				if !flush() {
					return ErrClosed
				}
			}
		}
		// Everything complete is scanned: hand it over before waiting for more.
		if !flush() {
			return ErrClosed
		}
		if r > 0 {
			// Keep the partial message's bytes; the Reader and scan keep its state.
			w = copy(buf, buf[r:w])
			r = 0
		}
		if grow := max(w+need, w+1); grow > len(buf) {
			// One element (a long bulk) is larger than the buffer.
			nb := make([]byte, max(grow, 2*len(buf)))
			copy(nb, buf[:w])
			buf = nb
		}
		need = 0
		n, err := readSome(fd, buf[w:])
		if err == errTick {
			if s.isClosed() {
				return ErrClosed
			}
			if len(buf) > maxIdleReadBuf && w == 0 {
				buf = make([]byte, readBufSize) // shrink back once idle
			}
			continue
		}
		if err != nil {
			return err
		}
		w += n
	}
}

// notice is the reconnect notice (see the top of this file).
func (rs *resubState) notice() []byte {
	var t Tape
	t.PutInt(KindArray, 7)
	t.PutBytes(KindBulk, []byte("reconnect"))
	cause := "the connection was lost"
	if rs.cause != nil {
		cause = rs.cause.Error()
	}
	t.PutBytes(KindBulk, []byte(cause))
	t.PutInt(KindInt, time.Since(rs.since).Milliseconds())
	t.PutInt(KindInt, int64(rs.attempts))
	for _, c := range rs.counts {
		t.PutInt(KindInt, int64(c))
	}
	return t.Buf
}

var confirmKinds = [][]byte{[]byte("subscribe"), []byte("psubscribe"), []byte("ssubscribe")}
var unconfirmKinds = [][]byte{[]byte("unsubscribe"), []byte("punsubscribe"), []byte("sunsubscribe")}

// kindOf reads a message tape [*3 $kind $name ...]: the kind and name.
func kindOf(msg []byte) (kind, name []byte, ok bool) {
	if len(msg) < 18 || msg[0] != KindArray || leUint64(msg[1:]) != 3 || msg[9] != KindBulk {
		return nil, nil, false
	}
	l := int(leUint64(msg[10:]))
	kind = msg[18 : 18+l]
	rest := msg[18+l:]
	if len(rest) >= 9 && rest[0] == KindBulk {
		nl := int(leUint64(rest[1:]))
		name = rest[9 : 9+nl]
	}
	return kind, name, true
}

func isSubscribeConfirmation(msg []byte) bool {
	kind, _, ok := kindOf(msg)
	if !ok {
		return false
	}
	for _, k := range confirmKinds {
		if bytes.Equal(kind, k) {
			return true
		}
	}
	return false
}

// confirm updates the confirmed sets from a (un)subscribe reply.
func (s *Subscriber) confirm(msg []byte) {
	kind, name, ok := kindOf(msg)
	if !ok || name == nil || len(kind) < len("subscribe") || len(kind) > len("punsubscribe") {
		return
	}
	for i := range confirmKinds {
		add := bytes.Equal(kind, confirmKinds[i])
		if add || bytes.Equal(kind, unconfirmKinds[i]) {
			s.mu.Lock()
			if add {
				s.confirmed[i][string(name)] = struct{}{}
			} else {
				delete(s.confirmed[i], string(name))
			}
			s.mu.Unlock()
			return
		}
	}
}
