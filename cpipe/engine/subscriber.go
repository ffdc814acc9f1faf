package engine

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

// A Subscriber is one connection of its own in subscriber mode (SUBSCRIBE,
// PSUBSCRIBE, SSUBSCRIBE) or in MONITOR mode, never shared with commands.
//
// Who owns what:
//
//   - One reader goroutine owns the socket's read side and the RESP Reader.
//     It scans messages into tapes and appends them to the queue. It also
//     reconnects after a loss (reconnect.go's loop) and re-subscribes.
//   - Callers' commands (SUBSCRIBE ... PING) are written by the calling
//     thread under wmu, which also guards the subscription sets and fd. A
//     poller never takes wmu, and a writer never waits for the queue: a
//     thread blocked in Poll holds nothing a subscribe or a publish needs.
//   - mu guards the queue, closed, the terminal error, the confirmed sets
//     and liveFd (the descriptor Close shuts down).
//
// Lock order: wmu, then mu.
//
// The queue is bounded by MaxMessages and MaxBytes (tape bytes, about the
// messages' size plus 9 bytes per element). At the bound the reader stops
// reading the socket until a poller makes room: the kernel's buffers fill,
// then the server's output buffer for this client grows until the server's
// `client-output-buffer-limit pubsub` (default 32mb hard, 8mb for 60 s)
// disconnects it. The Subscriber then reconnects and re-subscribes like
// after any other loss, and delivers a reconnect notice, so a slow
// consumer learns that it missed messages instead of using unbounded
// memory. A batch the reader scanned in one go is admitted whole into an
// empty queue, so the bound is exceeded by at most one such batch
// (subBatchMessages messages or subBatchBytes bytes).
type Subscriber struct {
	o SubOptions

	wmu      sync.Mutex
	fd       *sock // the connection writers use; nil while not connected
	running  bool  // a reader goroutine owns the connection (or is reconnecting)
	channels *nameSet
	patterns *nameSet
	shards   *nameSet
	lostAt   time.Time // when the reader gave up: a later Send's notice counts from it

	mu       sync.Mutex
	cond     *sync.Cond // queue changed, room made, closed
	q        []byte     // queued messages' tape entries, from qHead
	qHead    int
	qCount   int
	err      error // the reader gave up: returned by Poll once the queue is empty
	closed   bool
	closing  chan struct{} // closed by Close: interrupts backoff sleeps
	notifyFd int
	notified bool
	liveFd   *sock // the reader's socket, for Close to shut down; nil: none
	// confirmed: what the server's replies say this connection is
	// subscribed to (the reader's view; reset on every reconnect).
	confirmed  [3]map[string]struct{}
	reconnects int
}

// SubOptions configure a Subscriber.
type SubOptions struct {
	Conn        Options // server, timeouts, init commands (as the client's)
	MaxMessages int     // queue bound in messages; 0: DefaultSubMaxMessages
	MaxBytes    int     // queue bound in tape bytes; 0: DefaultSubMaxBytes
	Monitor     bool    // send MONITOR after connecting; no commands, no reconnect
	NotifyFd    int     // >= 0: one byte is written there when messages arrive after a drain
	// ReconnectFor bounds how long the reader tries to reconnect after a
	// loss before it gives up (Poll then returns the error); 0:
	// DefaultReconnectFor, negative: until Close.
	ReconnectFor time.Duration
}

const (
	DefaultSubMaxMessages = 100_000
	DefaultSubMaxBytes    = 64 << 20
	DefaultReconnectFor   = 30 * time.Second
	// subBatchMessages, subBatchBytes: what the reader scans before it
	// hands a batch to the queue.
	subBatchMessages = 1024
	subBatchBytes    = 256 << 10
	// reconnect backoff: doubling from the first to the cap.
	subBackoffFirst = 10 * time.Millisecond
	subBackoffCap   = time.Second
	// maxIdleQueue: an empty queue keeps at most this much memory.
	maxIdleQueue = 1 << 20
)

// ErrSubCommand refuses a command a subscriber connection cannot carry.
var ErrSubCommand = errors.New("only SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, SUNSUBSCRIBE and PING run on a pub/sub connection")

func (o *SubOptions) maxMessages() int {
	if o.MaxMessages > 0 {
		return o.MaxMessages
	}
	return DefaultSubMaxMessages
}

func (o *SubOptions) maxBytes() int {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return DefaultSubMaxBytes
}

func (o *SubOptions) reconnectFor() time.Duration {
	if o.ReconnectFor == 0 {
		return DefaultReconnectFor
	}
	return o.ReconnectFor
}

// NewSubscriber makes a Subscriber; it connects on the first Send (or
// Start, in MONITOR mode). The connection options are o.Conn's, with any
// HELLO among the init commands replaced by the AUTH and CLIENT SETNAME it
// carried: a subscriber speaks RESP2, whose messages are arrays.
func NewSubscriber(o SubOptions) *Subscriber {
	o.Conn.Init, o.Conn.InitCount = resp2Init(o.Conn.Init)
	s := &Subscriber{o: o, fd: nil, liveFd: nil, notifyFd: o.NotifyFd, closing: make(chan struct{}),
		channels: newNameSet(), patterns: newNameSet(), shards: newNameSet()}
	s.cond = sync.NewCond(&s.mu)
	for i := range s.confirmed {
		s.confirmed[i] = map[string]struct{}{}
	}
	return s
}

// SubscriberOptions is the connection options of g's connections, for a
// Subscriber that connects as they do.
func (g *Group) SubscriberOptions() Options { return g.o }

// enqueue appends a batch of count messages, waiting for room first (the
// reader stops reading meanwhile). False once the Subscriber is closed.
func (s *Subscriber) enqueue(b []byte, count int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	maxM, maxB := s.o.maxMessages(), s.o.maxBytes()
	for !s.closed && s.qCount > 0 && (s.qCount+count > maxM || len(s.q)-s.qHead+len(b) > maxB) {
		s.cond.Wait()
	}
	if s.closed {
		return false
	}
	s.q = append(s.q, b...)
	s.qCount += count
	s.notifyLocked()
	s.cond.Broadcast()
	return true
}

// notifyLocked writes the wake-up byte once per drain.
func (s *Subscriber) notifyLocked() {
	if s.notifyFd >= 0 && !s.notified {
		s.notified = true
		var one = [1]byte{1}
		syscall.Write(s.notifyFd, one[:]) // a full pipe already means "wake up"
	}
}

// Poll takes up to max queued messages (and about maxBytes of them) as one
// tape, waiting up to timeout for the first (0: no wait). It returns the
// number of messages taken. With none queued it returns ErrClosed once
// closed, or the reader's terminal error once it gave up reconnecting.
func (s *Subscriber) Poll(timeout time.Duration, max int, t *Tape) (int, error) {
	if max <= 0 {
		max = subBatchMessages
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.qCount == 0 && timeout > 0 && !s.closed && s.err == nil {
		deadline := time.Now().Add(timeout)
		tm := time.AfterFunc(timeout, func() {
			s.mu.Lock()
			s.cond.Broadcast()
			s.mu.Unlock()
		})
		for s.qCount == 0 && !s.closed && s.err == nil && time.Now().Before(deadline) {
			s.cond.Wait()
		}
		tm.Stop()
	}
	if s.qCount == 0 {
		s.notified = false
		if s.closed {
			return 0, ErrClosed
		}
		return 0, s.err
	}
	src := s.q[s.qHead:]
	rest := src
	n := 0
	for n < max && n < s.qCount && (n == 0 || len(src)-len(rest) < s.o.maxBytes()) {
		rest = skipEntry(rest)
		n++
	}
	took := len(src) - len(rest)
	copy(t.Reserve(took), src[:took])
	s.qHead += took
	s.qCount -= n
	if s.qCount == 0 {
		s.q, s.qHead, s.notified = s.q[:0], 0, false
		if cap(s.q) > maxIdleQueue {
			s.q = nil
		}
	} else if s.qHead > len(s.q)/2 {
		s.q = s.q[:copy(s.q, s.q[s.qHead:])]
		s.qHead = 0
	}
	s.cond.Broadcast() // room for the reader
	return n, nil
}

// Queued reports the messages and tape bytes waiting in the queue.
func (s *Subscriber) Queued() (messages, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.qCount, len(s.q) - s.qHead
}

// Reconnects is how many times the connection was lost and replaced.
func (s *Subscriber) Reconnects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconnects
}

// Confirmed returns the channels, patterns and shard channels the server
// confirmed on the current connection.
func (s *Subscriber) Confirmed() (channels, patterns, shards []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := func(m map[string]struct{}) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	return list(s.confirmed[0]), list(s.confirmed[1]), list(s.confirmed[2])
}

// Close stops the reader, wakes every poller (ErrClosed) and closes the
// connection; safe from any thread, more than once.
func (s *Subscriber) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.closing)
	if s.notifyFd >= 0 {
		s.notified = false
		s.notifyLocked() // an event loop waiting for messages learns of the close
	}
	s.notifyFd = -1 // the fd is the caller's: it may be closed and its number reused
	if s.liveFd != nil {
		// Wakes the reader (and a writer) blocked in a syscall; the reader
		// closes the descriptor itself, so its number is never reused under it.
		s.liveFd.shutdown()
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *Subscriber) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// nameSet is an insertion-ordered set of names (re-subscription sends them
// in the order they were first subscribed).
type nameSet struct {
	index map[string]int
	names []string
}

func newNameSet() *nameSet { return &nameSet{index: map[string]int{}} }

func (n *nameSet) add(name string) {
	if _, ok := n.index[name]; !ok {
		n.index[name] = len(n.names)
		n.names = append(n.names, name)
	}
}

func (n *nameSet) remove(name string) {
	i, ok := n.index[name]
	if !ok {
		return
	}
	delete(n.index, name)
	n.names = append(n.names[:i], n.names[i+1:]...)
	for j := i; j < len(n.names); j++ {
		n.index[n.names[j]] = j
	}
}

func (n *nameSet) clear() {
	n.index = map[string]int{}
	n.names = nil
}

func (n *nameSet) list() []string { return append([]string(nil), n.names...) }
