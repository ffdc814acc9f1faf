package engine

import (
	"sync"
	"syscall"
	"time"
)

// Completions collects finished asynchronous requests for one consumer: a
// sync Pool's completion thread, or one asyncio event loop. With a notify
// fd, the first completion after each drain writes one byte to it, so an
// event loop wakes once per batch, not once per reply.
//
// outstanding counts commands submitted to this queue and not yet
// collected; Submit waits (or reports ErrWouldBlock) at MaxOutstanding, so
// completions nobody collects cannot grow without bound.
type Completions struct {
	mu          sync.Mutex
	cond        *sync.Cond
	done        []*Request
	outstanding int
	notifyFd    int
	notified    bool
	closed      bool
}

// MaxOutstanding bounds commands submitted and not yet collected, per queue.
const MaxOutstanding = 1 << 20

const (
	// pollLinger and pollBatch: how long a blocking Poll waits for more
	// completions once it has one, and how many make a batch worth returning.
	pollLinger = 500 * time.Microsecond
	pollBatch  = 4096
)

func NewCompletions(notifyFd int) *Completions {
	q := &Completions{notifyFd: notifyFd}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// reserve counts req's commands as outstanding, waiting for room if
// mayBlock (and letting a signal through meanwhile, see interrupt.go).
func (q *Completions) reserve(req *Request, mayBlock bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := req.N
	for q.outstanding > 0 && q.outstanding+n > MaxOutstanding {
		if q.closed {
			return ErrClosed
		}
		if !mayBlock {
			return ErrWouldBlock
		}
		if req.Interrupt == nil {
			q.cond.Wait()
		} else if err := waitTick(q.cond, interruptTick, req); err != nil {
			return err
		}
	}
	if q.closed {
		return ErrClosed
	}
	q.outstanding += n
	return nil
}

func (q *Completions) unreserve(n int) {
	q.mu.Lock()
	q.outstanding -= n
	q.cond.Broadcast()
	q.mu.Unlock()
}

// add is a Request.OnDone: it may run with a connection's lock held.
func (q *Completions) add(r *Request) {
	q.mu.Lock()
	q.done = append(q.done, r)
	if q.notifyFd >= 0 && !q.notified {
		q.notified = true
		var one = [1]byte{1}
		syscall.Write(q.notifyFd, one[:]) // a full pipe already means "wake up"
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Poll returns finished requests, waiting up to timeout for the first one
// (0: do not wait). It returns nil when nothing finished in time.
func (q *Completions) Poll(timeout time.Duration) []*Request {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.done) == 0 && timeout > 0 {
		// Wait even with nothing outstanding: a consumer thread polls in a
		// loop and must sleep, not spin, while its pool is idle.
		q.waitUntil(time.Now().Add(timeout), func() bool { return len(q.done) > 0 })
	}
	// Having found some, linger briefly while more are about to land, so the
	// Python side takes the GIL once per batch rather than once per reply.
	if timeout > 0 && len(q.done) > 0 && q.outstanding > countCommands(q.done) {
		q.waitUntil(time.Now().Add(pollLinger), func() bool {
			return len(q.done) >= pollBatch || q.outstanding <= countCommands(q.done)
		})
	}
	out := q.done
	q.done = nil
	q.notified = false
	for _, r := range out {
		q.outstanding -= r.N
	}
	if len(out) > 0 {
		q.cond.Broadcast()
	}
	return out
}

// waitUntil waits on cond until ok() or the deadline; q.mu is held.
func (q *Completions) waitUntil(deadline time.Time, ok func() bool) {
	t := time.AfterFunc(time.Until(deadline), func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	for !ok() && !q.closed && time.Now().Before(deadline) {
		q.cond.Wait()
	}
	t.Stop()
}

// Outstanding is the number of submitted commands not yet collected.
func (q *Completions) Outstanding() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.outstanding
}

// Close wakes every waiter; later submissions fail with ErrClosed.
func (q *Completions) Close() {
	q.mu.Lock()
	q.closed = true
	q.notifyFd = -1 // the fd is the caller's: it may be closed and its number reused
	q.cond.Broadcast()
	q.mu.Unlock()
}

func countCommands(rs []*Request) int {
	n := 0
	for _, r := range rs {
		n += r.N
	}
	return n
}
