package engine

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The invalidation connection (RESP2 REDIRECT mode, which RESP3 servers
// accept too): one connection per tracked group, subscribed to
// __redis__:invalidate, whose client id every shared connection names in
// CLIENT TRACKING ON REDIRECT <id>. One goroutine (Tracker.run) owns it:
// it dials, reads invalidation messages into the sink, peeks at the idle
// shared connections once per tick (probeIdle), pings the server when
// nothing arrived for trackingPingEvery, and after a loss dials again and
// re-points the shared connections at the new id.
//
// Messages, as the server sends them on that connection:
//
//	*3 $7 message $20 __redis__:invalidate *<n> $<len> key ...   n keys changed
//	*3 $7 message $20 __redis__:invalidate *-1                   everything (FLUSHDB, FLUSHALL)
//
// (Redis 6.0 sent a single key as a bulk string instead of an array of
// one; both are accepted.) The same payload comes as a RESP3 push frame
// (>2 invalidate <keys>) on a connection tracking without REDIRECT: see
// HandleInvalidationFrame.

const (
	invalidateChannel = "__redis__:invalidate"
	// trackingPingEvery: a PING goes out when the connection was silent
	// this long; no byte for trackingPingEvery + trackingPongGrace (at
	// least the socket timeout) means the server is gone.
	trackingPingEvery = time.Second
	trackingPongGrace = 5 * time.Second
	// trackingRetryMax: the longest pause between two dials while the
	// server cannot be reached.
	trackingRetryMax = time.Second
)

// invalidationConn holds the descriptor so close() can shut it down under
// the goroutine that reads it.
type invalidationConn struct {
	mu sync.Mutex
	fd *sock // 0: none (a descriptor is never 0 here: stdin holds it)
}

func (ic *invalidationConn) set(fd *sock) {
	ic.mu.Lock()
	ic.fd = fd
	ic.mu.Unlock()
}

// release closes the descriptor; only the owning goroutine calls it.
func (ic *invalidationConn) release() {
	ic.mu.Lock()
	if ic.fd != nil {
		ic.fd.close()
	}
	ic.fd = nil
	ic.mu.Unlock()
}

func (ic *invalidationConn) shutdown() {
	ic.mu.Lock()
	if ic.fd != nil {
		ic.fd.shutdown()
	}
	ic.mu.Unlock()
}

// run is the invalidation goroutine.
func (t *Tracker) run() {
	defer close(t.done)
	pause := 10 * time.Millisecond
	repointing := false // this tracker counts as "not ready" in the sink
	defer func() {
		if repointing {
			t.sink.setReady(true) // the sink may serve a later group
		}
	}()
	for !t.isClosed() {
		fd, id, rest, err := t.dialInvalidation()
		t.mu.Lock()
		t.dialTries++
		if err != nil {
			t.dialErr = fmt.Errorf("client-side caching: opening the invalidation connection: %w", err)
			t.changed.Broadcast()
			t.mu.Unlock()
			t.sleep(pause)
			pause = min(2*pause, trackingRetryMax)
			continue
		}
		if t.closed {
			t.mu.Unlock()
			fd.close()
			return
		}
		t.conn.set(fd)
		t.redirect, t.dialErr = id, nil
		t.changed.Broadcast()
		t.mu.Unlock()
		pause = 10 * time.Millisecond
		if repointing {
			t.repoint(id)
			t.sink.setReady(true)
			repointing = false
		}
		t.readInvalidations(fd, rest)
		t.mu.Lock()
		t.redirect = 0
		closed := t.closed
		t.mu.Unlock()
		t.conn.release()
		if closed {
			return
		}
		// Invalidations sent meanwhile are lost, and the shared connections
		// redirect to a client that is gone: flush, store nothing until
		// they redirect to the next one.
		t.sink.setReady(false)
		repointing = true
	}
}

// sleep waits d, or less if the tracker is closed meanwhile.
func (t *Tracker) sleep(d time.Duration) {
	end := nanotime() + int64(d)
	for nanotime() < end && !t.isClosed() {
		time.Sleep(min(time.Duration(end-nanotime()), interruptTick))
	}
}

// dialInvalidation connects with the group's options (AUTH, SELECT, ...;
// not tracking), asks for the connection's id and subscribes. rest is what
// was read past the subscription's confirmation.
func (t *Tracker) dialInvalidation() (fd *sock, id int64, rest []byte, err error) {
	o := t.g.o
	o.Tracking = nil
	// RESP2, always: the invalidations come as pub/sub messages on this
	// connection (HELLO 3 would turn them and SUBSCRIBE's confirmation into
	// push frames), and a fresh shared state, so what this connection
	// settles on never changes the protocol the group reports.
	o.Protocol = RESP2
	o.shared = nil
	o.OnPush = nil
	p := NewPConn(&o)
	fd, err = p.dialAndInit()
	if err != nil {
		return nil, 0, nil, err
	}
	cmd := encodeCommand(nil, [][]byte{[]byte("CLIENT"), []byte("ID")})
	cmd = encodeCommand(cmd, [][]byte{[]byte("SUBSCRIBE"), []byte(invalidateChannel)})
	st := stallCheck{timeout: o.SocketTimeout, tick: o.tick()}
	req := &Request{N: 2}
	if err = writeAll(fd, cmd, nil, &st); err == nil {
		err = p.readReplies(fd, req, nil)
	}
	if err == nil {
		id, err = subscribedID(req.Tape.Buf)
	}
	if err != nil {
		fd.close()
		return nil, 0, nil, err
	}
	if p.rr < p.rw {
		rest = append([]byte(nil), p.rbuf[p.rr:p.rw]...)
	}
	return fd, id, rest, nil
}

// subscribedID reads the replies to CLIENT ID and SUBSCRIBE.
func subscribedID(tape []byte) (int64, error) {
	if len(tape) < 9 {
		return 0, errors.New("no reply to CLIENT ID")
	}
	switch tape[0] {
	case KindError:
		n := int(leUint64(tape[1:]))
		return 0, fmt.Errorf("CLIENT ID: %s", tape[9:9+n])
	case KindInt:
	default:
		return 0, protoErr("CLIENT ID answered with a %q entry", tape[0])
	}
	id := int64(leUint64(tape[1:]))
	sub := tape[9:]
	if len(sub) > 9 && sub[0] == KindError {
		n := int(leUint64(sub[1:]))
		return 0, fmt.Errorf("SUBSCRIBE %s: %s", invalidateChannel, sub[9:9+n])
	}
	if id <= 0 {
		return 0, protoErr("CLIENT ID answered %d", id)
	}
	return id, nil
}

// readInvalidations reads the subscribed connection until it fails or the
// tracker is closed, feeding the sink.
func (t *Tracker) readInvalidations(fd *sock, rest []byte) {
	buf := make([]byte, max(readBufSize, len(rest)))
	rw := copy(buf, rest)
	rr := 0
	var rd Reader
	var tape Tape
	last := nanotime()
	lastPing, lastProbe := last, last
	grace := int64(trackingPingEvery + max(trackingPongGrace, t.g.o.SocketTimeout))
	for {
		for rr < rw {
			n, done, need, err := rd.Scan(buf[rr:rw], &tape)
			rr += n
			if err != nil {
				return
			}
			if done {
				t.HandleInvalidationFrame(tape.Buf)
				tape.Reset()
				continue
			}
			if rr == rw {
				rr, rw = 0, 0
			}
			if need > len(buf)-rr {
				if need > len(buf) {
					nb := make([]byte, max(need, 2*len(buf)))
					rw = copy(nb, buf[rr:rw])
					buf = nb
				} else {
					rw = copy(buf, buf[rr:rw])
				}
				rr = 0
			}
			break
		}
		if rr == rw {
			rr, rw = 0, 0
			if len(buf) > maxIdleReadBuf {
				buf = make([]byte, readBufSize)
			}
		}
		if t.isClosed() {
			return
		}
		m, err := readSome(fd, buf[rw:])
		now := nanotime()
		if now-lastProbe >= int64(interruptTick) {
			t.probeShared()
			lastProbe = now
		}
		if err == errTick {
			if now-last >= grace {
				return // the server stopped answering PING
			}
			if now-lastPing >= int64(trackingPingEvery) && now-last >= int64(trackingPingEvery) {
				ping := encodeCommand(nil, [][]byte{[]byte("PING")})
				if writeAll(fd, ping, nil, nil) != nil {
					return
				}
				lastPing = now
			}
			continue
		}
		if err != nil {
			return
		}
		rw += m
		last = now
	}
}

// probeShared peeks at the group's idle shared connections (probeIdle).
func (t *Tracker) probeShared() {
	for _, c := range t.g.conns {
		t.mu.Lock()
		_, tracked := t.used[c]
		t.mu.Unlock()
		if tracked {
			c.probeIdle()
		}
	}
}

// HandleInvalidationFrame feeds the sink from one complete frame's tape:
// a RESP2 pub/sub message on __redis__:invalidate, or a RESP3 push frame
// "invalidate" (the entry kind of its header is not looked at, so the
// RESP3 reader's push kind works as is). Anything else (the PING's pong, a
// subscription confirmation) is ignored; it reports whether the frame was
// an invalidation.
func (t *Tracker) HandleInvalidationFrame(frame []byte) bool {
	keys, null, ok := parseInvalidation(frame)
	if ok {
		t.sink.invalidate(keys, null)
	}
	return ok
}

// parseInvalidation reads ["message", channel, payload] or
// ["invalidate", payload] where payload is an array of keys, one key, or
// nil. The keys are copies.
func parseInvalidation(frame []byte) (keys [][]byte, null, ok bool) {
	if len(frame) < 9 {
		return nil, false, false
	}
	n := int(leUint64(frame[1:]))
	p := frame[9:]
	first, p, okFirst := tapeBulk(p)
	if !okFirst {
		return nil, false, false
	}
	switch {
	case n == 3 && bytes.EqualFold(first, []byte("message")):
		ch, q, okCh := tapeBulk(p)
		if !okCh || string(ch) != invalidateChannel {
			return nil, false, false
		}
		p = q
	case n == 2 && bytes.EqualFold(first, []byte("invalidate")):
	default:
		return nil, false, false
	}
	if len(p) == 0 {
		return nil, false, false
	}
	switch p[0] {
	case KindNil:
		return nil, true, true
	case KindBulk, KindSimple:
		k, _, okK := tapeBulk(p)
		return [][]byte{append([]byte(nil), k...)}, false, okK
	case KindArray:
		if len(p) < 9 {
			return nil, false, false
		}
		cnt := int(leUint64(p[1:]))
		p = p[9:]
		keys = make([][]byte, 0, cnt)
		for i := 0; i < cnt; i++ {
			k, q, okK := tapeBulk(p)
			if !okK {
				return nil, false, false
			}
			keys = append(keys, append([]byte(nil), k...))
			p = q
		}
		return keys, false, true
	}
	return nil, false, false
}

// tapeBulk reads one bulk or simple string entry.
func tapeBulk(p []byte) ([]byte, []byte, bool) {
	if len(p) < 9 || (p[0] != KindBulk && p[0] != KindSimple) {
		return nil, p, false
	}
	n := int(leUint64(p[1:]))
	if len(p) < 9+n {
		return nil, p, false
	}
	return p[9 : 9+n], p[9+n:], true
}
