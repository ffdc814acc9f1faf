package engine

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A Group is what a Python Client or Pool holds: size shared connections,
// plus dedicated "side" connections for blocking commands, which must never
// sit in a queue shared with other callers' traffic.
//
// With autopipeline on, concurrent callers share connections and their
// commands are coalesced (see PConn). With it off, a caller borrows a whole
// connection for its request, as a classic pool does.
type Group struct {
	o         Options
	conns     []*PConn
	exclusive bool
	idle      chan *PConn // exclusive mode: connections free to borrow
	closed    atomic.Bool
	lastAsync atomic.Pointer[PConn]

	sideMu     sync.Mutex
	side       []*PConn            // idle side connections, at most len(conns) kept
	sideActive map[*PConn]struct{} // side connections running a blocking command
	sideFree   *sync.Cond          // signalled when a side connection is returned
	// Asynchronous blocking commands by (queue, tag), so Cancel can close
	// the connection they wait on.
	cancellable map[cancelKey]*cancelEntry
}

func NewGroup(o Options, size int, autopipeline bool) *Group {
	if size < 1 {
		size = 1
	}
	g := &Group{o: o, exclusive: !autopipeline}
	g.conns = make([]*PConn, size)
	g.idle = make(chan *PConn, size)
	for i := range g.conns {
		g.conns[i] = NewPConn(&g.o)
		g.idle <- g.conns[i]
	}
	if o.Resolver != nil {
		o.Resolver.attach(g) // Sentinel: a switch of master fails the connections to the old one
	}
	return g
}

// Do runs a request and waits. blocking marks a command that may wait on
// the server (BLPOP, ...): it gets a connection to itself, with its read
// timeout stretched by blockFor (negative: forever).
func (g *Group) Do(req *Request, blocking bool, blockFor time.Duration) error {
	if g.closed.Load() {
		return ErrClosed
	}
	req.markStart()
	if blocking {
		if !g.o.ConnectOnce {
			// Always a side connection, in exclusive mode too: a shared or
			// borrowed connection would hold asynchronous work behind it.
			return g.doOnSide(req, blockFor, nil)
		}
		// A connect-once connection carries state a side connection would
		// not have (a WATCH pipeline's): the command waits on it instead.
		req.ReadTimeout = blockingReadTimeout(g.o.SocketTimeout, blockFor)
	}
	if g.exclusive {
		c, err := g.borrow(req)
		if err != nil {
			return err
		}
		err = c.Do(req)
		g.idle <- c
		return err
	}
	return g.pick().Do(req)
}

// borrow takes a connection for req alone (exclusive mode). It waits while
// the connections are busy, failing with ErrTimeout once the socket timeout
// has passed both since req's start and since any connection last made
// progress: callers queued behind a stalled server all give up on time,
// while those behind a long but healthy transfer keep waiting.
func (g *Group) borrow(req *Request) (*PConn, error) {
	select {
	case c := <-g.idle:
		return c, nil
	default:
	}
	for {
		if c, ok := waitOrTick(g.idle, g.o.tick()); ok {
			// The holder may have just given up on a stalled server: then
			// our own time is up too, rather than starting to wait afresh.
			if g.waitedTooLong(req) || c.timedOutSince(req.start) {
				g.idle <- c
				return nil, ErrTimeout
			}
			return c, nil
		}
		if req.interruptedNow() {
			return nil, ErrInterrupted
		}
		if g.waitedTooLong(req) {
			return nil, ErrTimeout
		}
		if g.closed.Load() {
			return nil, ErrClosed
		}
	}
}

func (g *Group) waitedTooLong(req *Request) bool {
	t := g.o.SocketTimeout
	return t > 0 && nanotime()-max(req.start, g.lastProgress()) >= int64(t)
}

// lastProgress is the latest time any shared connection read or wrote.
func (g *Group) lastProgress() int64 {
	last := int64(0)
	for _, c := range g.conns {
		last = max(last, c.progress.Load(), c.wprogress.Load())
	}
	return last
}

// doOnSide runs a blocking command on a side connection of its own, its
// read timeout stretched by blockFor. With a cancel key, Cancel can close
// that connection while the command waits.
func (g *Group) doOnSide(req *Request, blockFor time.Duration, cancel *cancelKey) error {
	req.ReadTimeout = blockingReadTimeout(g.o.SocketTimeout, blockFor)
	c, err := g.takeSide(req)
	if err != nil {
		g.forgetCancel(cancel)
		return err
	}
	if cancel != nil {
		g.sideMu.Lock()
		e := g.cancellable[*cancel]
		if e == nil || e.cancelled {
			// Cancelled before it reached a connection: send nothing.
			delete(g.cancellable, *cancel)
			g.sideMu.Unlock()
			g.putSide(c)
			return errCancelled
		}
		e.c = c
		g.sideMu.Unlock()
	}
	err = c.Do(req)
	// Before the connection goes back: Cancel must never close one that
	// another command has taken since.
	g.forgetCancel(cancel)
	g.putSide(c)
	return err
}

var errCancelled = &ConnError{errors.New("the command was cancelled")}

// cancelEntry is an asynchronous blocking command that Cancel can reach:
// registered before its goroutine starts, so a Cancel that comes before
// the command has a connection is not lost.
type cancelEntry struct {
	c         *PConn // nil until the command has a side connection
	cancelled bool
}

func (g *Group) registerCancel(k cancelKey) {
	g.sideMu.Lock()
	if g.cancellable == nil {
		g.cancellable = make(map[cancelKey]*cancelEntry)
	}
	g.cancellable[k] = &cancelEntry{}
	g.sideMu.Unlock()
}

func (g *Group) forgetCancel(k *cancelKey) {
	if k == nil {
		return
	}
	g.sideMu.Lock()
	delete(g.cancellable, *k)
	g.sideMu.Unlock()
}

func blockingReadTimeout(socket, blockFor time.Duration) time.Duration {
	if blockFor < 0 || socket == 0 {
		return -1
	}
	return socket + blockFor
}

// pick returns the connection with the fewest queued commands.
func (g *Group) pick() *PConn {
	if len(g.conns) == 1 {
		return g.conns[0]
	}
	best, bestN := g.conns[0], int(^uint(0)>>1)
	for _, c := range g.conns {
		n := c.Queued()
		if n == 0 && c.queuedHint.CompareAndSwap(0, 1) {
			// An idle connection, marked busy at once: callers that pick
			// at the same moment (the GIL is released before the engine is
			// called, so they do) go to other idle connections instead of
			// queueing behind this one and waiting for its reader's
			// hand-off. Admission stores the true count over the mark.
			return c
		}
		if n < bestN {
			best, bestN = c, n
		}
	}
	return best
}

// pickAsync prefers the connection the last submission went to while its
// batch is still waiting for the writer: joining that batch costs an append,
// where spreading submissions over idle connections costs a write (and a
// goroutine start) each.
func (g *Group) pickAsync() *PConn {
	if c := g.lastAsync.Load(); c != nil && c.batchOpen() {
		return c
	}
	c := g.pick()
	g.lastAsync.Store(c)
	return c
}

type cancelKey struct {
	q  *Completions
	id uint64
}

// Cancel abandons an asynchronous blocking command (BLPOP, ...) submitted
// to q with tag id: its connection is closed, so the server forgets the
// command instead of later handing it an element nobody will read. Other
// requests cannot be cancelled (their replies are read and dropped by the
// caller). Reports whether a command was found.
func (g *Group) Cancel(q *Completions, id uint64) bool {
	g.sideMu.Lock()
	e := g.cancellable[cancelKey{q, id}]
	var c *PConn
	if e != nil {
		e.cancelled = true
		c = e.c
	}
	g.sideMu.Unlock()
	if c != nil {
		c.Close()
	}
	return e != nil
}

// MaxSideConns bounds the connections running blocking commands at once,
// per group; a further blocking command waits for one to be returned.
const MaxSideConns = 64

func (g *Group) takeSide(req *Request) (*PConn, error) {
	g.sideMu.Lock()
	defer g.sideMu.Unlock()
	if g.sideFree == nil {
		g.sideFree = sync.NewCond(&g.sideMu)
	}
	for len(g.sideActive) >= MaxSideConns && !g.closed.Load() {
		// Every side connection runs a blocking command. Wait for one, at
		// most the socket timeout, and let a signal through meanwhile.
		if t := g.o.SocketTimeout; t > 0 && nanotime()-req.start >= int64(t) {
			return nil, fmt.Errorf("%w: all %d connections for blocking commands stayed busy", ErrTimeout, MaxSideConns)
		}
		if req.Interrupt == nil && g.o.SocketTimeout == 0 {
			g.sideFree.Wait()
		} else if err := waitTick(g.sideFree, g.o.tick(), req); err != nil {
			return nil, err
		}
	}
	var c *PConn
	if n := len(g.side); n > 0 {
		c = g.side[n-1]
		g.side = g.side[:n-1]
	} else {
		c = NewPConn(&g.o)
	}
	if g.sideActive == nil {
		g.sideActive = make(map[*PConn]struct{})
	}
	g.sideActive[c] = struct{}{}
	if g.closed.Load() {
		c.Close() // Close already ran: fail this command rather than block
	}
	return c, nil
}

func (g *Group) putSide(c *PConn) {
	g.sideMu.Lock()
	delete(g.sideActive, c)
	if g.sideFree != nil {
		g.sideFree.Signal()
	}
	// A failed one is dropped: a new one dials just as its reconnect would,
	// and with Options.ConnectOnce it would never reconnect.
	keep := !g.closed.Load() && c.reusable() && len(g.side) < len(g.conns)
	if keep {
		g.side = append(g.side, c)
	}
	g.sideMu.Unlock()
	if !keep {
		c.Close()
	}
}

// Submit queues an asynchronous request (Data must be Go memory); its
// completion goes to q. Blocking commands run on a side connection from a
// goroutine. With mayBlock false it returns ErrWouldBlock, having queued
// nothing, where it would have to connect or wait for room.
func (g *Group) Submit(req *Request, q *Completions, blocking bool, blockFor time.Duration, mayBlock bool) error {
	if g.closed.Load() {
		return ErrClosed
	}
	req.markStart()
	if err := q.reserve(req, mayBlock); err != nil {
		return err
	}
	if blocking {
		// From here on only goroutines wait for it: no thread to interrupt.
		req.Interrupt = nil
		key := cancelKey{q, req.ID}
		g.registerCancel(key)
		go func() {
			// Fills req; completion is reported to q either way.
			if err := g.doOnSide(req, blockFor, &key); err != nil {
				req.Err = err
			}
			q.add(req)
		}()
		return nil
	}
	req.OnDone = q.add
	err := g.pickAsync().Submit(req, mayBlock)
	if err == ErrWouldBlock || err == ErrInterrupted {
		// Nothing was queued; the caller hears of it directly.
		q.unreserve(req.N)
		return err
	}
	if err != nil {
		req.Err = err
		q.add(req)
	}
	return nil
}

// Close fails all work on every connection and closes them.
func (g *Group) Close() {
	if g.closed.Swap(true) {
		return
	}
	for _, c := range g.conns {
		c.Close()
	}
	if g.o.Tracking != nil {
		g.o.Tracking.close() // after the connections: a re-point in progress fails at once
	}
	if g.o.Resolver != nil {
		g.o.Resolver.detach(g)
	}
	g.sideMu.Lock()
	side := g.side
	g.side = nil
	for c := range g.sideActive {
		side = append(side, c) // blocking commands in flight fail with ErrClosed
	}
	if g.sideFree != nil {
		g.sideFree.Broadcast()
	}
	g.sideMu.Unlock()
	for _, c := range side {
		c.Close()
	}
}
