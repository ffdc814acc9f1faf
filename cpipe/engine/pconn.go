package engine

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// A PConn is one server connection shared by any number of callers. Callers
// hand it Requests; bytes of requests that arrive while a write is under way
// are coalesced into the next write, and replies are matched to requests in
// order. There is no dedicated I/O thread: whichever caller finds the
// "writing" role free writes, and whichever finds the "reading" role free
// reads until its own request is answered, then hands the role to the next
// waiter. A lone caller therefore does write+read in its own thread with no
// goroutine switch, and many callers share one write and one read per batch.

// Request is n commands, RESP-encoded back to back. Its bytes are written
// contiguously, so its replies arrive contiguously.
type Request struct {
	Data []byte // may be C memory owned by a waiting caller (Do) or Go memory (Submit)
	N    int
	Tape Tape  // replies, one top-level entry per command
	Err  error // set instead of (part of) the replies when the connection failed
	// OnDone, when set, makes the request asynchronous: it is called (with
	// the connection's lock held) once the request is answered or failed.
	OnDone func(*Request)
	// ReadTimeout, when non-zero, replaces the socket timeout while this
	// request's replies are read (blocking commands, on exclusive
	// connections only); negative means wait forever.
	ReadTimeout time.Duration
	// Interrupt, when set, is asked about once per interruptTick while the
	// request's caller waits, from the caller's own thread and with no lock
	// held; true abandons the request with ErrInterrupted (see interrupt.go).
	Interrupt func() bool
	ID        uint64 // caller's tag, returned with async completions
	Batch     bool   // a pipeline: its replies go back as one list
	// OwnThread: the caller is a host thread inside a call into the engine
	// (cp_exec), whose goroutine is locked to that thread; it sleeps in
	// the kernel (park.go) instead of parking its goroutine.
	OwnThread bool

	state       reqState
	inWrite     bool // a writer is sending Data outside the lock
	got         int
	wake        chan struct{} // the waiting caller's wake-up, unless OwnThread
	park        parker        // the same, for OwnThread
	start       int64         // nanotime when the caller handed the request over
	interrupted bool          // its own caller saw Interrupt return true
}

// markStart notes when the caller handed req over, once: the Group and the
// PConn both see it, and the Group's waits count too.
func (r *Request) markStart() {
	if r.start == 0 {
		r.start = nanotime()
	}
}

type reqState uint8

const (
	statePending reqState = iota
	stateInflight
	stateDone
)

const (
	// bigWrite: a batch at least this large is written from a goroutine while
	// the caller reads replies, so a huge pipeline cannot deadlock against a
	// server that stops reading until we read its replies.
	bigWrite = 256 << 10
	// writeChunk: small requests are copied into one buffer up to this size
	// so a batch costs one syscall; larger ones are written in place.
	writeChunk = 64 << 10
	// readBufSize is the reusable read buffer; it grows to fit one bulk
	// reply and shrinks back to this once idle above maxIdleReadBuf.
	readBufSize    = 64 << 10
	maxIdleReadBuf = 1 << 20
)

// ErrWouldBlock is returned by a non-blocking Submit that would have to wait.
var ErrWouldBlock = errors.New("the request would have to wait")

// ErrClosed is returned for work on a closed client or pool.
var ErrClosed = errors.New("the client was closed")

type PConn struct {
	o       *Options
	mu      sync.Mutex
	changed *sync.Cond // roles released, queue space freed, connection failed

	fd      *sock
	broken  error // set when the connection failed; fd is closed once no role uses it
	closed  bool
	pending []*Request // accepted, not written
	spare   []*Request
	queue   []*Request // written, awaiting replies, oldest first
	writing bool
	reading bool
	// connecting: a caller is dialing with the lock released; until it is
	// done nobody else touches fd, the reader's state or the roles.
	connecting bool
	// connectedOnce: a connect has succeeded; with Options.ConnectOnce no
	// other is tried, and lost holds the error every later request gets.
	connectedOnce bool
	lost          error
	queued        int // commands in pending+queue, bounded by Options.MaxQueued
	// queuedHint mirrors queued for Group.pick, which reads every
	// connection's on every command: taking each one's lock for it made
	// threads on different connections wait for each other.
	queuedHint atomic.Int64
	// addr: the address the connection reached (with Options.Resolver, the
	// one it named); written by the connecting caller, read under mu.
	addr string

	// Owned by the reading role.
	rbuf     []byte
	rr, rw   int
	rd       Reader
	scanning *Request      // the request whose tape the reader is filling outside the lock
	rcvTick  time.Duration // the socket's SO_RCVTIMEO now (see setReadTick)
	// progress: monotonic ns of the last bytes read (wprogress has the last
	// written), for callers that wait for this connection without being on
	// it (exclusive mode) and for the idle peek.
	progress atomic.Int64
	// timedOut: monotonic ns of the last failure by a socket timeout.
	timedOut atomic.Int64
	// wprogress: monotonic ns of the last partial write. A read timeout is
	// only a timeout if the write side made no progress either: a huge
	// request to a slowly reading server gets no replies until it is in.
	wprogress atomic.Int64
	// Owned by the writing role.
	wbuf []byte
}

// NewPConn makes a connection with o, which it keeps (o is shared by a
// Group's connections and must not change once one exists).
func NewPConn(o *Options) *PConn {
	c := &PConn{o: o}
	c.changed = sync.NewCond(&c.mu)
	shared := o.share()
	c.rd.OnPush = func(frame []byte) {
		if o.OnPush != nil {
			o.OnPush(frame)
		} else {
			shared.dropped.Add(1)
		}
	}
	return c
}

// Queued is a racy load estimate used to pick the least busy connection;
// it takes no lock.
func (c *PConn) Queued() int {
	return int(c.queuedHint.Load())
}

// batchOpen reports whether pending bytes are queued behind an active
// writer, so a new request would join the next write for free.
func (c *PConn) batchOpen() bool {
	c.mu.Lock()
	open := c.writing && len(c.pending) > 0 && len(c.pending) < maxBatch
	c.mu.Unlock()
	return open
}

// maxBatch: beyond this many requests waiting for one write, new work is
// spread to other connections instead.
const maxBatch = 4096

// Do sends req and waits for its replies in the calling thread.
func (c *PConn) Do(req *Request) error {
	if req.OwnThread {
		req.park.state.Store(parkIdle)
	} else {
		req.wake = make(chan struct{}, 1)
	}
	req.markStart()
	c.mu.Lock()
	if err := c.admitLocked(req); err != nil {
		c.mu.Unlock()
		return err
	}
	c.pending = append(c.pending, req)
	if c.claimWritingLocked() {
		c.writeLocked(req, false)
	}
	c.waitLocked(req)
	// req.Data may be the caller's memory: after a failure the writer may
	// still be in the middle of sending it (failLocked shut the socket down,
	// so that send ends at once).
	for req.inWrite {
		c.changed.Wait()
	}
	c.mu.Unlock()
	if req.interrupted {
		return ErrInterrupted
	}
	return req.Err
}

// Submit queues req (Data in Go memory, OnDone set) and returns without
// waiting for replies. With mayBlock false it returns ErrWouldBlock instead
// of connecting or waiting for queue space, so the bridge can keep the GIL
// for the common case and release it only when it must wait.
func (c *PConn) Submit(req *Request, mayBlock bool) error {
	req.markStart()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !mayBlock && (c.fd == nil || c.broken != nil || (c.queued > 0 && c.queued+req.N > c.o.maxQueued())) {
		return ErrWouldBlock
	}
	if err := c.admitLocked(req); err != nil {
		return err
	}
	req.Interrupt = nil // from here on only goroutines handle it
	c.pending = append(c.pending, req)
	if c.claimWritingLocked() {
		go c.writeInBackground()
	}
	return nil
}

// admitLocked (re)connects if needed and reserves queue space for req.
// Waiting for room is bounded by the socket timeout from req's start.
func (c *PConn) admitLocked(req *Request) error {
	for {
		if c.closed {
			return ErrClosed
		}
		if c.fd != nil && c.broken == nil && c.queued == 0 && !c.reading && !c.writing &&
			req.start-c.progress.Load() > int64(idlePeekAfter) {
			// The server may have closed this idle connection (restart,
			// CLIENT KILL, its timeout), or sent bytes nobody asked for:
			// nothing of this request was sent, so replacing the connection
			// now is safe and spares the caller an error. Checked (one
			// non-blocking peek) whenever a connection idle for
			// idlePeekAfter gets a request, so a stray reply that arrived
			// while it was idle can never be read as this request's reply.
			// Bytes that are RESP3 push frames (invalidations) are no stray
			// reply: they are read and handed to OnPush.
			switch peekIdle(c.fd) {
			case peekClosed:
				c.broken = errIdleClosed
			case peekBytes:
				c.drainIdleLocked()
				continue // the lock was released: look again
			}
		}
		if c.fd == nil || c.broken != nil {
			if c.reading || c.writing || c.connecting {
				// A failed connection's role holders are still unwinding, or
				// another caller is connecting.
				waitedForConnect := c.connecting
				if err := c.waitChangedLocked(req, 0); err != nil {
					return err
				}
				if waitedForConnect && !c.connecting && c.fd == nil && c.timedOutSince(req.start) {
					// The connect we waited for timed out (a server that
					// accepts and never answers the init commands): ours
					// would too, so callers queued behind it fail together
					// instead of each trying in turn.
					return ErrTimeout
				}
				continue
			}
			if err := c.connectLocked(req); err != nil {
				return err
			}
			continue // the lock was released: look again
		}
		if c.queued == 0 || c.queued+req.N <= c.o.maxQueued() {
			c.queued += req.N
			c.queuedHint.Store(int64(c.queued))
			req.state = statePending
			return nil
		}
		deadline := int64(0)
		if c.o.SocketTimeout > 0 {
			deadline = req.start + int64(c.o.SocketTimeout)
		}
		if err := c.waitChangedLocked(req, deadline); err != nil {
			return err
		}
	}
}

// waitChangedLocked waits for c.changed, but only until deadline (0: none)
// and, for an interruptible request, for one tick before asking whether a
// signal arrived. ErrTimeout once the deadline has passed.
func (c *PConn) waitChangedLocked(req *Request, deadline int64) error {
	wait := time.Duration(-1)
	if req.Interrupt != nil {
		wait = interruptTick
	}
	if deadline > 0 {
		left := time.Duration(deadline - nanotime())
		if left <= 0 {
			return ErrTimeout
		}
		if wait < 0 || left < wait {
			wait = left
		}
	}
	if wait < 0 {
		c.changed.Wait()
		return nil
	}
	return waitTick(c.changed, wait, req)
}

// writeLocked runs the writing role: it writes pending batches until none
// is left. self is the caller's own request (it needs no wake-up to read,
// and its Interrupt may be asked while the write stalls).
func (c *PConn) writeLocked(self *Request, inBackground bool) {
	for len(c.pending) > 0 && c.broken == nil {
		batch := c.pending
		c.pending = c.spare[:0]
		size := 0
		for _, r := range batch {
			r.state = stateInflight
			r.inWrite = true
			c.queue = append(c.queue, r)
			size += len(r.Data)
		}
		c.kickReaderLocked(self)
		fd := c.fd
		if size >= bigWrite && !inBackground {
			c.spare = nil // batch's array now belongs to the goroutine
			go c.writeBatchInBackground(fd, batch)
			return // hand-off: the goroutine keeps the writing role
		}
		c.mu.Unlock()
		err := c.writeBatch(fd, batch, self)
		c.mu.Lock()
		c.writtenLocked(batch)
		clear(batch)
		c.spare = batch[:0]
		if err != nil {
			c.failLocked(sharedCause(err))
		}
	}
	c.releaseWritingLocked()
}

func (c *PConn) writeInBackground() {
	c.mu.Lock()
	c.writeLocked(nil, true)
	c.mu.Unlock()
}

func (c *PConn) writeBatchInBackground(fd *sock, batch []*Request) {
	err := c.writeBatch(fd, batch, nil)
	c.mu.Lock()
	c.writtenLocked(batch)
	if err != nil {
		c.failLocked(err)
	}
	c.writeLocked(nil, true)
	c.mu.Unlock()
}

// writtenLocked releases the batch's data: a failed caller may now return.
func (c *PConn) writtenLocked(batch []*Request) {
	for _, r := range batch {
		r.inWrite = false
	}
	c.changed.Broadcast()
}

func (c *PConn) writeBatch(fd *sock, batch []*Request, self *Request) error {
	st := stallCheck{timeout: c.o.SocketTimeout, tick: c.o.tick(), caller: self}
	if len(batch) == 1 {
		return writeAll(fd, batch[0].Data, &c.wprogress, &st)
	}
	buf := c.wbuf[:0]
	for _, r := range batch {
		if len(buf) > 0 && len(buf)+len(r.Data) > writeChunk {
			if err := writeAll(fd, buf, &c.wprogress, &st); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if len(r.Data) >= writeChunk {
			if err := writeAll(fd, r.Data, &c.wprogress, &st); err != nil {
				return err
			}
			continue
		}
		buf = append(buf, r.Data...)
	}
	var err error
	if len(buf) > 0 {
		err = writeAll(fd, buf, &c.wprogress, &st)
	}
	if cap(buf) <= 4*writeChunk {
		c.wbuf = buf[:0]
	} else {
		c.wbuf = nil
	}
	return err
}

// kickReaderLocked makes sure someone reads when replies are expected and
// the reading role is free: the oldest waiting caller, or a goroutine when
// the oldest request is asynchronous.
func (c *PConn) kickReaderLocked(self *Request) {
	if c.reading || len(c.queue) == 0 {
		return
	}
	head := c.queue[0]
	if head.OnDone != nil {
		c.reading = true // hand-off: the goroutine takes the reading role
		go c.readInBackground()
		return
	}
	if head != self {
		head.signal()
	}
}

// waitLocked returns once req is done, taking the reading role when free.
// An interrupted caller fails the connection: its request may be on the
// wire, so the connection can no longer be trusted to be in step.
func (c *PConn) waitLocked(req *Request) {
	for req.state != stateDone {
		if !c.reading && req.state == stateInflight {
			c.reading = true // claim: the reading role is free and req is written
			c.readLocked(req)
			c.releaseReadingLocked()
			continue
		}
		c.mu.Unlock()
		hit := req.sleep()
		c.mu.Lock()
		if hit && req.state != stateDone {
			c.failLocked(errSharerInterrupted)
		}
	}
}

// readLocked reads replies for the oldest requests until target is done
// (target == nil: until nothing is awaiting replies).
func (c *PConn) readLocked(target *Request) {
	for len(c.queue) > 0 && c.broken == nil && (target == nil || target.state != stateDone) {
		head := c.queue[0]
		fd := c.fd
		c.scanning = head
		c.mu.Unlock()
		err := c.readReplies(fd, head, target)
		c.mu.Lock()
		c.scanning = nil
		if err != nil {
			c.failLocked(sharedCause(err))
		}
		if c.broken != nil {
			// failLocked left head to us: we were writing into its tape.
			if head.state != stateDone {
				if head.Err == nil {
					head.Err = c.broken
				}
				c.completeLocked(head)
			}
			return
		}
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if len(c.queue) == 0 {
			c.queue = c.queue[:0:0] // let the backing array go instead of creeping forward
		}
		c.queued -= head.N
		c.queuedHint.Store(int64(c.queued))
		if err := c.movedAway(&head.Tape, head.N); err != nil {
			// A READONLY reply from what Options.Resolver named as a
			// master (sentinel_conn.go): fail it, so the next connect asks again.
			head.Err = err
			c.completeLocked(head)
			c.failLocked(err)
			return
		}
		c.completeLocked(head)
		if len(c.queue) == 0 && c.rr < c.rw && !c.rd.InPush() {
			// Every request written so far is answered, yet bytes remain
			// that are not the rest of a push frame: nobody asked for them,
			// so they must not become the reply of whatever is sent next.
			c.failLocked(strayBytes(c.rbuf[c.rr:c.rw]))
			return
		}
	}
}

func (c *PConn) readInBackground() {
	c.mu.Lock()
	c.readLocked(nil)
	c.releaseReadingLocked()
	c.mu.Unlock()
}

func (c *PConn) completeLocked(r *Request) {
	r.state = stateDone
	if r.OnDone != nil {
		r.OnDone(r)
		return
	}
	r.signal()
}

// signal wakes r's waiting caller (or its next wait). Called with the
// connection's lock held.
func (r *Request) signal() {
	if r.OwnThread {
		r.park.wake()
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// claimWritingLocked takes the writing role if it is free.
func (c *PConn) claimWritingLocked() bool {
	if c.writing {
		return false
	}
	c.writing = true
	return true
}

// releaseWritingLocked gives the writing role up: nothing is pending, or
// the connection failed.
func (c *PConn) releaseWritingLocked() {
	c.writing = false
	c.changed.Broadcast()
}

// releaseReadingLocked gives the reading role up and hands it to whoever
// must read next (kickReaderLocked): the caller of the oldest request, or a
// goroutine when that request is asynchronous.
func (c *PConn) releaseReadingLocked() {
	c.reading = false
	c.kickReaderLocked(nil)
	c.changed.Broadcast()
}

// readLimit is how long req's replies may keep the reader waiting with no
// bytes arriving and no write progress; 0: forever.
func (c *PConn) readLimit(req *Request) time.Duration {
	switch {
	case req.ReadTimeout < 0:
		return 0
	case req.ReadTimeout > 0:
		return req.ReadTimeout
	}
	return c.o.SocketTimeout
}

// readReplies scans the rest of req's replies from the socket. caller is
// the request of the thread reading (nil for a goroutine): its Interrupt
// is asked once per tick without bytes.
func (c *PConn) readReplies(fd *sock, req, caller *Request) error {
	limit := c.readLimit(req)
	if c.rbuf == nil {
		c.rbuf = make([]byte, readBufSize)
	}
	var waitFrom int64 // when the current wait for bytes began; 0: not waiting
	for req.got < req.N {
		n, done, need, err := c.rd.Scan(c.rbuf[c.rr:c.rw], &req.Tape)
		c.rr += n
		if err != nil {
			return err
		}
		if done {
			req.got++
			if req.got == req.N {
				c.scanTrailingPushes(&req.Tape)
			}
			continue
		}
		if need == 0 {
			continue // a push frame went to OnPush; the reply is still to come
		}
		c.makeRoom(need)
		m, err := readSome(fd, c.rbuf[c.rw:])
		if err == errTick {
			now := nanotime()
			if waitFrom == 0 {
				waitFrom = now - int64(c.rcvTick)
			}
			if caller.interruptedNow() {
				return ErrInterrupted
			}
			if limit > 0 {
				// Not a timeout while our own upload still makes progress: a
				// server that is reading a huge request sends no replies yet.
				idle := now - max(waitFrom, c.wprogress.Load())
				if idle >= int64(limit) {
					return ErrTimeout
				}
				c.setReadTick(fd, limit-time.Duration(idle))
			}
			continue
		}
		if err != nil {
			return err
		}
		if waitFrom != 0 {
			waitFrom = 0
			c.setReadTick(fd, c.o.tick())
		}
		c.progress.Store(nanotime())
		c.rw += m
	}
	if c.rr == c.rw && len(c.rbuf) > maxIdleReadBuf {
		c.rbuf = make([]byte, readBufSize)
		c.rr, c.rw = 0, 0
	}
	return nil
}

// makeRoom makes the read buffer hold need bytes from c.rr (reading role).
func (c *PConn) makeRoom(need int) {
	if c.rr == c.rw {
		c.rr, c.rw = 0, 0
	}
	if need > len(c.rbuf)-c.rr {
		if need > len(c.rbuf) {
			nb := make([]byte, max(need, 2*len(c.rbuf)))
			c.rw = copy(nb, c.rbuf[c.rr:c.rw])
			c.rbuf = nb
		} else {
			c.rw = copy(c.rbuf, c.rbuf[c.rr:c.rw])
		}
		c.rr = 0
	}
}

// scanTrailingPushes hands to OnPush the push frames already buffered
// after a request's last reply (an invalidation right behind a GET's
// reply), so they are not taken for stray bytes; it stops at anything
// else, which is the next request's, and at a frame not all here yet,
// whose rest the next reader scans. Reading role, with the lock released.
func (c *PConn) scanTrailingPushes(t *Tape) {
	for c.rr < c.rw && (c.rd.InPush() || c.rbuf[c.rr] == KindPush) {
		n, _, need, err := c.rd.Scan(c.rbuf[c.rr:c.rw], t)
		c.rr += n
		if err != nil || need != 0 {
			return // an error shows again when the bytes are scanned for a reply
		}
	}
}

// setReadTick makes the socket's read tick d (at most one tick, at least a
// millisecond), so a timeout nearer than a tick fires on time. Owned by the
// reading role; a syscall only when the value changes, which on a healthy
// connection it never does.
func (c *PConn) setReadTick(fd *sock, d time.Duration) {
	d = min(max(d, time.Millisecond), c.o.tick())
	if d != c.rcvTick {
		setRcvTimeout(fd, d)
		c.rcvTick = d
	}
}

// idlePeekAfter: a connection idle for longer is peeked at before its next
// request. Back-to-back commands (a loop, a busy connection) skip the
// syscall: a stray reply can as well arrive just after the peek as just
// before, so peeking then would buy nothing.
const idlePeekAfter = time.Millisecond

var errIdleClosed = errors.New("the server closed the idle connection, or sent bytes nobody asked for")

func nanotime() int64 { return int64(time.Since(processStart)) }

var processStart = time.Now()

// failLocked marks the connection broken and fails everything on it. The
// socket is shut down at once (waking any blocked role holder) but closed
// only when no role uses it, so its number cannot be reused under a writer.
func (c *PConn) failLocked(err error) {
	if c.broken != nil {
		return
	}
	c.broken = err
	if c.o.Tracking != nil {
		c.o.Tracking.lost(c) // client-side caching: what was read here is no longer tracked
	}
	if errors.Is(err, ErrTimeout) {
		c.timedOut.Store(nanotime())
	}
	if c.fd != nil {
		c.fd.shutdown()
	}
	for _, list := range [][]*Request{c.queue, c.pending} {
		for _, r := range list {
			r.Err = err
			if r != c.scanning { // the reader completes that one once it stops writing its tape
				c.completeLocked(r)
			}
		}
	}
	clear(c.queue)
	clear(c.pending)
	c.queue, c.pending = c.queue[:0], c.pending[:0]
	c.queued = 0
	c.queuedHint.Store(0)
	c.changed.Broadcast()
}

// timedOutSince reports whether the connection failed by a socket timeout
// after t: a caller that waited for it meanwhile waited as long in vain.
func (c *PConn) timedOutSince(t int64) bool { return c.timedOut.Load() > t }

// reusable reports whether the connection is neither closed nor failed.
func (c *PConn) reusable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && c.broken == nil
}

// Close fails all work and closes the socket once no role holds it.
func (c *PConn) Close() {
	c.mu.Lock()
	c.closed = true
	c.failLocked(ErrClosed)
	for c.reading || c.writing {
		c.changed.Wait()
	}
	if c.fd != nil {
		c.fd.close()
		c.fd = nil
	}
	c.mu.Unlock()
}
