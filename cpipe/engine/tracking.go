package engine

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Server-assisted client-side caching (CLIENT TRACKING), the engine's part.
//
// The cache itself lives in the host (Python): a hit never enters Go. The
// engine's job is to make the server tell us what to drop, and to tell the
// host cheaply that something must be dropped:
//
//   - A TrackingSink is the engine's side of one host cache: a bounded queue
//     of invalidated keys, a "flush everything" flag, and an event counter
//     in memory the host gave us (C memory), which the sink bumps after
//     every change. The host compares the counter with the value it last
//     saw (one atomic load, no call into Go) and drains the sink only when
//     it moved.
//   - A Tracker is attached to one Group (a client's or pool's handle). It
//     owns the invalidation connection (tracking_conn.go), and it takes part
//     in every connect of the group's shared connections through
//     Options.Tracking: each new connection gets CLIENT TRACKING ON
//     [BCAST PREFIX ...] among its init commands, so every reconnect
//     re-enables tracking. How the invalidations come depends on the
//     protocol the connect asks for:
//   - RESP3 (HELLO 3 in the same init batch): in band, as push frames
//     ">2 invalidate <keys>" on the tracked connection itself, read by
//     whoever holds its reading role and handed to the tracker through
//     Options.OnPush (set by EnableTracking). Idle connections are watched
//     by one goroutine (tracking_inband.go) that drains their pushes as
//     they arrive. No invalidation connection is opened.
//   - RESP2: REDIRECT <id of the invalidation connection>, a RESP2
//     connection subscribed to __redis__:invalidate (tracking_conn.go),
//     opened on the first connect that needs it.
//     If HELLO 3 falls back to RESP2 in a batch that already enabled
//     in-band tracking, that connection would get no invalidations at all:
//     dialAndInit closes it, flushes, and connects again, now in RESP2 with
//     REDIRECT (the fallback is remembered: no later connect asks HELLO).
//
// What makes the host flush its whole cache (the sink's flush flag):
//
//   - a shared connection failed (its tracking state died with it on the
//     server; invalidations for keys read on it will never come), noticed
//     at once when a caller was using it, within trackingProbeEvery when
//     it was idle (the invalidation goroutine peeks at idle connections);
//   - the invalidation connection was lost: until every shared connection
//     redirects to its replacement (re-pointed with CLIENT TRACKING ON
//     REDIRECT <new id>), the sink reports "not ready" and the host stores
//     nothing, then flushes again once ready;
//   - the server sent a null invalidation (FLUSHDB, FLUSHALL);
//   - the key queue overflowed (more than MaxKeys keys or MaxKeyBytes
//     bytes waiting for the host): the queue is dropped, everything is
//     flushed;
//   - the group was closed.
//
// Lock order: PConn.mu, then Tracker.mu, then TrackingSink.mu (failLocked
// calls Tracker.lost with the connection's lock held).

// Default bounds of a sink's key queue.
const (
	DefaultTrackingMaxKeys  = 1 << 16
	DefaultTrackingKeyBytes = 8 << 20
)

// TrackingSink queues invalidations for one host cache. All methods are
// safe for concurrent use.
type TrackingSink struct {
	mu       sync.Mutex
	counter  *uint64 // host memory (8-byte aligned), bumped under mu; nil in tests
	local    uint64  // the counter when the host gave none
	keys     [][]byte
	keyBytes int
	flush    bool
	closed   bool
	notReady int // attached trackers re-pointing their connections

	maxKeys, maxBytes int
	// Statistics, for the host's stats: read by Stats.
	invalidations atomic.Uint64 // keys received from the server
	flushes       atomic.Uint64 // flush events (connection lost, FLUSHDB, overflow, ...)
	overflows     atomic.Uint64 // flushes because the key queue was full
}

// NewTrackingSink returns a sink whose event counter is *counter (nil: one
// of its own, for tests). maxKeys and maxBytes bound the key queue; 0
// takes the defaults.
func NewTrackingSink(counter unsafe.Pointer, maxKeys, maxBytes int) *TrackingSink {
	s := &TrackingSink{counter: (*uint64)(counter), maxKeys: maxKeys, maxBytes: maxBytes}
	if s.maxKeys <= 0 {
		s.maxKeys = DefaultTrackingMaxKeys
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultTrackingKeyBytes
	}
	return s
}

// bumpLocked tells the host something changed; after the keys or flags it
// must see, so a host that sees the new count finds them when it drains.
func (s *TrackingSink) bumpLocked() {
	if s.closed {
		return
	}
	if s.counter != nil {
		atomic.AddUint64(s.counter, 1)
	} else {
		s.local++
	}
}

// Events is the event counter (what the host reads from its memory).
func (s *TrackingSink) Events() uint64 {
	if s.counter != nil {
		return atomic.LoadUint64(s.counter)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}

// invalidate queues keys read by the server's invalidation message; nil
// keys (the server's null invalidation, after FLUSHDB/FLUSHALL) flush all.
func (s *TrackingSink) invalidate(keys [][]byte, null bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if null {
		s.flushLocked()
		return
	}
	s.invalidations.Add(uint64(len(keys)))
	if s.flush {
		return // everything goes anyway
	}
	for _, k := range keys {
		if len(s.keys) >= s.maxKeys || s.keyBytes+len(k) > s.maxBytes {
			s.overflows.Add(1)
			s.flushLocked()
			return
		}
		s.keys = append(s.keys, k)
		s.keyBytes += len(k)
	}
	s.bumpLocked()
}

// Flush asks the host to drop everything.
func (s *TrackingSink) Flush() {
	s.mu.Lock()
	s.flushLocked()
	s.mu.Unlock()
}

func (s *TrackingSink) flushLocked() {
	s.flush = true
	s.keys, s.keyBytes = nil, 0
	s.flushes.Add(1)
	s.bumpLocked()
}

// setReady counts a tracker in or out of "re-pointing its connections";
// while any is, the host must not store replies. Either way the cache is
// flushed: entering, because invalidations may have been lost; leaving,
// because replies read while re-pointing may not be tracked.
func (s *TrackingSink) setReady(ready bool) {
	s.mu.Lock()
	if ready {
		s.notReady--
	} else {
		s.notReady++
	}
	s.flushLocked()
	s.mu.Unlock()
}

// Drain hands the host what queued since its last drain: whether it may
// store replies now, whether it must flush everything, and the keys to
// drop (nil when flushing).
func (s *TrackingSink) Drain() (ready, flush bool, keys [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ready, flush, keys = s.notReady == 0, s.flush, s.keys
	s.flush, s.keys, s.keyBytes = false, nil, 0
	return
}

// TrackingStats are the sink's counters.
type TrackingStats struct {
	Invalidations, Flushes, Overflows uint64
}

func (s *TrackingSink) Stats() TrackingStats {
	return TrackingStats{s.invalidations.Load(), s.flushes.Load(), s.overflows.Load()}
}

// Close stops every later write to the host's counter: once it returns,
// the host may free that memory.
func (s *TrackingSink) Close() {
	s.mu.Lock()
	s.closed = true
	s.counter = nil
	s.mu.Unlock()
}

// TrackingMode is how the server tracks keys.
type TrackingMode struct {
	// BCast: the server sends invalidations for every key under Prefixes
	// (every key when there are none), whether or not this client read it.
	// Default mode (BCast false): only keys this client's connections read.
	BCast    bool
	Prefixes [][]byte
}

// Tracker is a Group's tracking: its invalidation connection and its
// part in the shared connections' connects. Attach with Group.EnableTracking.
type Tracker struct {
	g    *Group
	sink *TrackingSink
	mode TrackingMode
	conn invalidationConn // tracking_conn.go

	mu      sync.Mutex
	changed *sync.Cond // the redirect id changed, or a dial attempt failed
	// redirect is the invalidation connection's client id; 0 while it is
	// down. dialErr is the last failed attempt's error (cleared on success),
	// dialTries counts attempts, so a waiter knows one failed after it came.
	redirect  int64
	dialErr   error
	dialTries uint64
	started   bool
	closed    bool
	// used maps each shared connection that connected to the redirect id
	// its tracking was enabled with; 0: in band (RESP3 pushes).
	used   map[*PConn]int64
	shared map[*PConn]bool
	done   chan struct{} // closed when the invalidation goroutine exits
	// watching: the in-band watcher (tracking_inband.go) runs; watchDone is
	// closed when it exits.
	watching  bool
	watchDone chan struct{}
}

var errTrackingClosed = errors.New("client-side caching: the client was closed")

// EnableTracking attaches a tracker feeding sink to g. It must be called
// before g's first command (the bridge does it right after opening).
func (g *Group) EnableTracking(sink *TrackingSink, mode TrackingMode) *Tracker {
	t := &Tracker{g: g, sink: sink, mode: mode, used: map[*PConn]int64{}, shared: map[*PConn]bool{},
		done: make(chan struct{})}
	t.changed = sync.NewCond(&t.mu)
	t.watchDone = make(chan struct{})
	for _, c := range g.conns {
		t.shared[c] = true
	}
	g.o.Tracking = t
	// In-band invalidations (RESP3) come as push frames on the tracked
	// connections: they go to the sink; any other push goes where it went
	// before (a hook already set, or the dropped count).
	prev, shared := g.o.OnPush, g.o.share()
	g.o.OnPush = func(frame []byte) {
		if t.HandleInvalidationFrame(frame) {
			return
		}
		if prev != nil {
			prev(frame)
		} else {
			shared.dropped.Add(1)
		}
	}
	return t
}

// trackingCommand is CLIENT TRACKING ON [REDIRECT id] [BCAST [PREFIX p]...];
// id 0: in band (no REDIRECT).
func (t *Tracker) trackingCommand(id int64) []byte {
	words := [][]byte{[]byte("CLIENT"), []byte("TRACKING"), []byte("ON")}
	if id != 0 {
		words = append(words, []byte("REDIRECT"), itoa(id))
	}
	if t.mode.BCast {
		words = append(words, []byte("BCAST"))
		for _, p := range t.mode.Prefixes {
			words = append(words, []byte("PREFIX"), p)
		}
	}
	return encodeCommand(nil, words)
}

// initFor is called by every connect of a connection of the group, before
// its init commands run (Options.Tracking): a shared connection gets the
// CLIENT TRACKING command. resp3: the batch asks HELLO 3, so tracking is
// in band (no REDIRECT; the in-band watcher is started); otherwise with
// the invalidation connection's id, that connection being opened first if
// it is not up. Side connections (blocking commands) are not tracked:
// nothing read there is cached.
func (t *Tracker) initFor(c *PConn, resp3 bool) ([]byte, int, error) {
	if !t.shared[c] {
		return nil, 0, nil
	}
	var id int64
	if resp3 {
		if err := t.startWatching(); err != nil {
			return nil, 0, err
		}
	} else {
		var err error
		if id, err = t.redirectID(); err != nil {
			return nil, 0, err
		}
	}
	t.mu.Lock()
	_, before := t.used[c]
	t.used[c] = id
	t.mu.Unlock()
	if before {
		// A reconnect: what was read on the lost connection is no longer tracked.
		t.sink.Flush()
	}
	return t.trackingCommand(id), 1, nil
}

// lost is called by failLocked (c.mu held) when a connection fails.
func (t *Tracker) lost(c *PConn) {
	if !t.shared[c] {
		return
	}
	t.mu.Lock()
	_, tracked := t.used[c]
	closed := t.closed
	t.mu.Unlock()
	if tracked && !closed {
		t.sink.Flush()
	}
}

// redirectID returns the invalidation connection's client id, starting its
// goroutine on first use and waiting for its (re)connect.
func (t *Tracker) redirectID() (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started && !t.closed {
		t.started = true
		go t.run()
	}
	tries := t.dialTries
	for t.redirect == 0 {
		if t.closed {
			return 0, errTrackingClosed
		}
		if t.dialTries > tries && t.dialErr != nil {
			return 0, t.dialErr
		}
		t.changed.Wait()
	}
	return t.redirect, nil
}

// repoint makes every shared connection that is tracking with another
// redirect id redirect to id, with a plain command on it: what is sent
// after it on that connection is tracked for the new invalidation
// connection. A connection that fails meanwhile reconnects with the new id.
func (t *Tracker) repoint(id int64) {
	t.mu.Lock()
	var stale []*PConn
	for c, used := range t.used {
		if used != id && used != 0 { // in-band connections redirect nowhere
			stale = append(stale, c)
		}
	}
	t.mu.Unlock()
	cmd := t.trackingCommand(id)
	for _, c := range stale {
		req := &Request{Data: cmd, N: 1}
		if err := c.Do(req); err == nil {
			t.mu.Lock()
			if t.used[c] != id && len(req.Tape.Buf) > 0 && req.Tape.Buf[0] != KindError {
				t.used[c] = id
			}
			t.mu.Unlock()
		}
	}
}

// close stops the invalidation goroutine and flushes the host cache: the
// group's connections are going away (Group.Close).
func (t *Tracker) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	started, watching := t.started, t.watching
	t.changed.Broadcast()
	t.mu.Unlock()
	t.conn.shutdown()
	if started {
		<-t.done
	}
	if watching {
		<-t.watchDone
	}
	t.sink.Flush()
}

func (t *Tracker) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func itoa(v int64) []byte {
	var b [20]byte
	i := len(b)
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return append([]byte(nil), b[i:]...)
}

// encodeCommand appends words as a RESP array of bulk strings.
func encodeCommand(dst []byte, words [][]byte) []byte {
	dst = append(dst, '*')
	dst = append(dst, itoa(int64(len(words)))...)
	dst = append(dst, '\r', '\n')
	for _, w := range words {
		dst = append(dst, '$')
		dst = append(dst, itoa(int64(len(w)))...)
		dst = append(dst, '\r', '\n')
		dst = append(dst, w...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// connTracker is what the connection code calls (Options.Tracking); the
// Tracker is its only implementation.
type connTracker interface {
	// initFor returns init commands to send after Options.Init on c's new
	// connection (RESP, n of them), or an error that fails the connect;
	// resp3: the same batch asks HELLO 3 (in-band tracking).
	initFor(c *PConn, resp3 bool) (init []byte, n int, err error)
	// fellBack is told that c's connect asked HELLO 3 with in-band
	// tracking and the server answered in RESP2: that connection is
	// dropped and connected again (with REDIRECT).
	fellBack(c *PConn)
	// lost is told, with c.mu held, that c failed.
	lost(c *PConn)
	// close ends tracking; Group.Close calls it after closing the connections.
	close()
}

var _ connTracker = (*Tracker)(nil)
