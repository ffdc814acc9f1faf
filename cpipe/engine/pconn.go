package engine

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
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
	ID          uint64 // caller's tag, returned with async completions
	Batch       bool   // a pipeline: its replies go back as one list

	state   reqState
	inWrite bool // a writer is sending Data outside the lock
	got     int
	wake    chan struct{}
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

// InitError is an error reply to one of Options.Init (AUTH, SELECT, ...).
type InitError struct{ Msg string }

func (e *InitError) Error() string { return e.Msg }

type PConn struct {
	o       *Options
	mu      sync.Mutex
	changed *sync.Cond // roles released, queue space freed, connection failed

	fd      int
	broken  error // set when the connection failed; fd is closed once no role uses it
	closed  bool
	pending []*Request // accepted, not written
	spare   []*Request
	queue   []*Request // written, awaiting replies, oldest first
	writing bool
	reading bool
	queued  int // commands in pending+queue, bounded by Options.MaxQueued

	// Owned by the reading role.
	rbuf     []byte
	rr, rw   int
	rd       Reader
	scanning *Request // the request whose tape the reader is filling outside the lock
	lastUsed int64    // monotonic ns of the last reply; see idleTooLong
	// wprogress: monotonic ns of the last partial write. A read timeout is
	// only a timeout if the write side made no progress either: a huge
	// request to a slowly reading server gets no replies until it is in.
	wprogress atomic.Int64
	// Owned by the writing role.
	wbuf []byte
}

func NewPConn(o *Options) *PConn {
	c := &PConn{o: o, fd: -1}
	c.changed = sync.NewCond(&c.mu)
	return c
}

// Queued is a racy load estimate used to pick the least busy connection.
func (c *PConn) Queued() int {
	c.mu.Lock()
	n := c.queued
	c.mu.Unlock()
	return n
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
	req.wake = make(chan struct{}, 1)
	c.mu.Lock()
	if err := c.admitLocked(req); err != nil {
		c.mu.Unlock()
		return err
	}
	c.pending = append(c.pending, req)
	if !c.writing {
		c.writing = true
		c.writeLocked(req, false)
	}
	c.waitLocked(req)
	// req.Data may be the caller's memory: after a failure the writer may
	// still be in the middle of sending it.
	for req.inWrite {
		c.changed.Wait()
	}
	c.mu.Unlock()
	return req.Err
}

// Submit queues req (Data in Go memory, OnDone set) and returns without
// waiting for replies. With mayBlock false it returns ErrWouldBlock instead
// of connecting or waiting for queue space, so the bridge can keep the GIL
// for the common case and release it only when it must wait.
func (c *PConn) Submit(req *Request, mayBlock bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !mayBlock && (c.fd < 0 || c.broken != nil || (c.queued > 0 && c.queued+req.N > c.o.maxQueued())) {
		return ErrWouldBlock
	}
	if err := c.admitLocked(req); err != nil {
		return err
	}
	c.pending = append(c.pending, req)
	if !c.writing {
		c.writing = true
		go c.writeInBackground()
	}
	return nil
}

// admitLocked (re)connects if needed and reserves queue space for req.
func (c *PConn) admitLocked(req *Request) error {
	var deadline time.Time
	for {
		if c.closed {
			return ErrClosed
		}
		if c.fd >= 0 && c.broken == nil && c.queued == 0 && !c.reading && !c.writing && c.idleTooLong() && !peerOpen(c.fd) {
			// The server closed this idle connection (restart, CLIENT KILL,
			// its timeout): nothing of this request was sent, so replacing
			// the connection now is safe and spares the caller an error.
			c.broken = errIdleClosed
		}
		if c.fd < 0 || c.broken != nil {
			if c.reading || c.writing {
				c.changed.Wait() // a failed connection's role holders are still unwinding
				continue
			}
			if err := c.connectLocked(); err != nil {
				return err
			}
		}
		if c.queued == 0 || c.queued+req.N <= c.o.maxQueued() {
			c.queued += req.N
			req.state = statePending
			return nil
		}
		if c.o.SocketTimeout > 0 {
			if deadline.IsZero() {
				deadline = time.Now().Add(c.o.SocketTimeout)
			} else if time.Now().After(deadline) {
				return ErrTimeout
			}
			t := time.AfterFunc(time.Until(deadline), func() {
				c.mu.Lock()
				c.changed.Broadcast()
				c.mu.Unlock()
			})
			c.changed.Wait()
			t.Stop()
		} else {
			c.changed.Wait()
		}
	}
}

// connectLocked dials and runs the init commands; roles are free, so this
// thread may use the socket directly.
func (c *PConn) connectLocked() error {
	if c.fd >= 0 {
		syscall.Close(c.fd)
		c.fd = -1
	}
	c.broken = nil
	c.rr, c.rw = 0, 0
	c.rd.Reset()
	fd, err := dial(c.o)
	if err != nil {
		return err
	}
	if c.o.InitCount > 0 {
		if err := c.initLocked(fd); err != nil {
			syscall.Close(fd)
			return err
		}
	}
	c.fd = fd
	c.lastUsed = nanotime()
	return nil
}

func (c *PConn) initLocked(fd int) error {
	if err := writeAll(fd, c.o.Init, nil); err != nil {
		return err
	}
	req := &Request{N: c.o.InitCount}
	if err := c.readReplies(fd, req); err != nil {
		return err
	}
	// Report the first error reply, if any.
	b := req.Tape.Buf
	for i := 0; i < req.N && len(b) > 0; i++ {
		kind := b[0]
		if kind == KindError {
			n := int(leUint64(b[1:]))
			return &InitError{Msg: string(b[9 : 9+n])}
		}
		b = skipEntry(b)
	}
	return nil
}

// writeLocked runs the writing role: it writes pending batches until none
// is left. self is the caller's own request (it needs no wake-up to read).
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
			return // the goroutine keeps the writing role
		}
		c.mu.Unlock()
		err := c.writeBatch(fd, batch)
		c.mu.Lock()
		c.writtenLocked(batch)
		clear(batch)
		c.spare = batch[:0]
		if err != nil {
			c.failLocked(err)
		}
	}
	c.writing = false
	c.changed.Broadcast()
}

func (c *PConn) writeInBackground() {
	c.mu.Lock()
	c.writeLocked(nil, true)
	c.mu.Unlock()
}

func (c *PConn) writeBatchInBackground(fd int, batch []*Request) {
	err := c.writeBatch(fd, batch)
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

func (c *PConn) writeBatch(fd int, batch []*Request) error {
	if len(batch) == 1 {
		return writeAll(fd, batch[0].Data, &c.wprogress)
	}
	buf := c.wbuf[:0]
	for _, r := range batch {
		if len(buf) > 0 && len(buf)+len(r.Data) > writeChunk {
			if err := writeAll(fd, buf, &c.wprogress); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if len(r.Data) >= writeChunk {
			if err := writeAll(fd, r.Data, &c.wprogress); err != nil {
				return err
			}
			continue
		}
		buf = append(buf, r.Data...)
	}
	var err error
	if len(buf) > 0 {
		err = writeAll(fd, buf, &c.wprogress)
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
		c.reading = true
		go c.readInBackground()
		return
	}
	if head != self {
		select {
		case head.wake <- struct{}{}:
		default:
		}
	}
}

// waitLocked returns once req is done, taking the reading role when free.
func (c *PConn) waitLocked(req *Request) {
	for req.state != stateDone {
		if !c.reading && req.state == stateInflight {
			c.reading = true
			c.readLocked(req)
			c.reading = false
			c.kickReaderLocked(nil)
			c.changed.Broadcast()
			continue
		}
		c.mu.Unlock()
		<-req.wake
		c.mu.Lock()
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
		err := c.readReplies(fd, head)
		c.mu.Lock()
		c.scanning = nil
		if err != nil {
			c.failLocked(err)
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
		c.lastUsed = nanotime()
		c.completeLocked(head)
	}
}

func (c *PConn) readInBackground() {
	c.mu.Lock()
	c.readLocked(nil)
	c.reading = false
	c.kickReaderLocked(nil)
	c.changed.Broadcast()
	c.mu.Unlock()
}

func (c *PConn) completeLocked(r *Request) {
	r.state = stateDone
	if r.OnDone != nil {
		r.OnDone(r)
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// readReplies scans the rest of req's replies from the socket.
func (c *PConn) readReplies(fd int, req *Request) error {
	if req.ReadTimeout != 0 {
		rt := req.ReadTimeout
		if rt < 0 {
			rt = 0
		}
		setTimeouts(fd, rt, c.o.SocketTimeout)
		defer setTimeouts(fd, c.o.SocketTimeout, c.o.SocketTimeout)
	}
	if c.rbuf == nil {
		c.rbuf = make([]byte, readBufSize)
	}
	for req.got < req.N {
		n, done, need, err := c.rd.Scan(c.rbuf[c.rr:c.rw], &req.Tape)
		c.rr += n
		if err != nil {
			return err
		}
		if done {
			req.got++
			continue
		}
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
		m, err := readSome(fd, c.rbuf[c.rw:])
		if err == ErrTimeout && c.o.SocketTimeout > 0 && nanotime()-c.wprogress.Load() < int64(c.o.SocketTimeout) {
			continue
		}
		if err != nil {
			return err
		}
		c.rw += m
	}
	if c.rr == c.rw && len(c.rbuf) > maxIdleReadBuf {
		c.rbuf = make([]byte, readBufSize)
		c.rr, c.rw = 0, 0
	}
	return nil
}

// idleCheckAfter: a connection unused for this long is checked (one
// non-blocking peek) before it is written to again. Busy connections never
// pay for the check.
const idleCheckAfter = 50 * time.Millisecond

var errIdleClosed = errors.New("the server closed the idle connection")

func (c *PConn) idleTooLong() bool {
	return nanotime()-c.lastUsed > int64(idleCheckAfter)
}

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
	if c.fd >= 0 {
		syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
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
	c.changed.Broadcast()
}

func (c *PConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close fails all work and closes the socket once no role holds it.
func (c *PConn) Close() {
	c.mu.Lock()
	c.closed = true
	c.failLocked(ErrClosed)
	for c.reading || c.writing {
		c.changed.Wait()
	}
	if c.fd >= 0 {
		syscall.Close(c.fd)
		c.fd = -1
	}
	c.mu.Unlock()
}
