package engine

import (
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

	sideMu sync.Mutex
	side   []*PConn // idle side connections, at most len(conns) kept

	// Completed asynchronous requests, collected by Poll. outstanding counts
	// commands submitted and not yet collected; Submit waits while it is at
	// MaxOutstanding, so an unread completion queue cannot grow without bound.
	cmu         sync.Mutex
	ccond       *sync.Cond
	done        []*Request
	outstanding int
}

// MaxOutstanding bounds commands submitted asynchronously and not yet
// collected by Poll, per group.
const MaxOutstanding = 1 << 20

func NewGroup(o Options, size int, autopipeline bool) *Group {
	if size < 1 {
		size = 1
	}
	g := &Group{o: o, exclusive: !autopipeline}
	g.ccond = sync.NewCond(&g.cmu)
	g.conns = make([]*PConn, size)
	g.idle = make(chan *PConn, size)
	for i := range g.conns {
		g.conns[i] = NewPConn(&g.o)
		g.idle <- g.conns[i]
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
	if blocking {
		req.ReadTimeout = blockingReadTimeout(g.o.SocketTimeout, blockFor)
		if !g.exclusive {
			c := g.takeSide()
			err := c.Do(req)
			g.putSide(c)
			return err
		}
	}
	if g.exclusive {
		var c *PConn
		if g.o.ConnectTimeout > 0 || g.o.SocketTimeout > 0 {
			t := time.NewTimer(g.o.ConnectTimeout + g.o.SocketTimeout + time.Second)
			select {
			case c = <-g.idle:
				t.Stop()
			case <-t.C:
				return ErrTimeout
			}
		} else {
			c = <-g.idle
		}
		err := c.Do(req)
		g.idle <- c
		return err
	}
	return g.pick().Do(req)
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
		if n := c.Queued(); n < bestN {
			best, bestN = c, n
			if n == 0 {
				break
			}
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

func (g *Group) takeSide() *PConn {
	g.sideMu.Lock()
	defer g.sideMu.Unlock()
	if n := len(g.side); n > 0 {
		c := g.side[n-1]
		g.side = g.side[:n-1]
		return c
	}
	return NewPConn(&g.o)
}

func (g *Group) putSide(c *PConn) {
	g.sideMu.Lock()
	keep := !g.closed.Load() && len(g.side) < len(g.conns)
	if keep {
		g.side = append(g.side, c)
	}
	g.sideMu.Unlock()
	if !keep {
		c.Close()
	}
}

// Submit queues an asynchronous request (Data must be Go memory); its
// completion is collected by Poll. With mayBlock false it returns
// ErrWouldBlock, having queued nothing, where it would have to wait.
func (g *Group) Submit(req *Request, mayBlock bool) error {
	if g.closed.Load() {
		return ErrClosed
	}
	g.cmu.Lock()
	for g.outstanding > 0 && g.outstanding+req.N > MaxOutstanding && !g.closed.Load() {
		if !mayBlock {
			g.cmu.Unlock()
			return ErrWouldBlock
		}
		g.ccond.Wait()
	}
	g.outstanding += req.N
	g.cmu.Unlock()
	req.OnDone = g.complete
	err := g.pickAsync().Submit(req, mayBlock)
	if err == ErrWouldBlock {
		g.cmu.Lock()
		g.outstanding -= req.N
		g.cmu.Unlock()
		return err
	}
	if err != nil {
		req.Err = err
		g.complete(req)
	}
	return nil
}

func (g *Group) complete(r *Request) {
	g.cmu.Lock()
	g.done = append(g.done, r)
	g.ccond.Broadcast()
	g.cmu.Unlock()
}

// Poll returns the completed asynchronous requests, waiting up to timeout
// for at least one. It returns nil on timeout or when nothing is pending.
func (g *Group) Poll(timeout time.Duration) []*Request {
	g.cmu.Lock()
	defer g.cmu.Unlock()
	if len(g.done) == 0 && g.outstanding > 0 && timeout > 0 {
		t := time.AfterFunc(timeout, func() {
			g.cmu.Lock()
			g.ccond.Broadcast()
			g.cmu.Unlock()
		})
		deadline := time.Now().Add(timeout)
		for len(g.done) == 0 && g.outstanding > 0 && time.Now().Before(deadline) {
			g.ccond.Wait()
		}
		t.Stop()
	}
	// Having found some, linger briefly while more are about to land, so the
	// Python side takes the GIL once per batch rather than once per reply.
	if len(g.done) > 0 && g.outstanding > countCommands(g.done) {
		deadline := time.Now().Add(pollLinger)
		t := time.AfterFunc(pollLinger, func() {
			g.cmu.Lock()
			g.ccond.Broadcast()
			g.cmu.Unlock()
		})
		for len(g.done) < pollBatch && g.outstanding > countCommands(g.done) && time.Now().Before(deadline) {
			g.ccond.Wait()
		}
		t.Stop()
	}
	out := g.done
	g.done = nil
	for _, r := range out {
		g.outstanding -= r.N
	}
	if len(out) > 0 {
		g.ccond.Broadcast()
	}
	return out
}

const (
	// pollLinger and pollBatch: how long Poll waits for more completions
	// once it has one, and how many make a batch worth returning at once.
	pollLinger = 500 * time.Microsecond
	pollBatch  = 4096
)

func countCommands(rs []*Request) int {
	n := 0
	for _, r := range rs {
		n += r.N
	}
	return n
}

// Outstanding is the number of submitted commands not yet collected.
func (g *Group) Outstanding() int {
	g.cmu.Lock()
	defer g.cmu.Unlock()
	return g.outstanding
}

// Close fails all work on every connection and closes them.
func (g *Group) Close() {
	if g.closed.Swap(true) {
		return
	}
	for _, c := range g.conns {
		c.Close()
	}
	g.sideMu.Lock()
	side := g.side
	g.side = nil
	g.sideMu.Unlock()
	for _, c := range side {
		c.Close()
	}
	g.cmu.Lock()
	g.ccond.Broadcast()
	g.cmu.Unlock()
}
