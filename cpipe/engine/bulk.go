package engine

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// A Bulk streams commands on a connection of its own. The caller hands it
// batches of RESP-encoded commands (Send, SendRaw) and gets control back
// as soon as the kernel has taken what it can: every call first reads and
// counts the replies that have arrived, then writes what the socket takes
// now, and keeps the rest for the next call. So Python encodes the next
// batch while the server runs the last one, and no thread switch is paid
// per batch: there is no goroutine. A call waits (the GIL released, in
// ppoll) only at the memory bound, in Flush and in Finish. Replies are not
// kept (unless BulkOptions.KeepReplies): only error replies are, with
// their command's index and bytes.
//
// Owners: io is held by the one call doing I/O (the caller's thread; the
// bridge's BulkWriter belongs to one Python object); it owns fd, the
// output queue, the read buffer and the scanner. mu guards the counters
// and lists that Stats, TakeErrors and TakeReplies read from any thread;
// it is only ever held briefly, never across a syscall. fd is closed only
// by Close, holding io; a failure shuts it down (waking a waiting call).
//
// Memory: commands handed over and not yet answered (written or not) are
// bounded by MaxPending commands and MaxPendingBytes bytes; Send waits,
// reading replies, until they fall to half the bound. A single batch larger
// than the bound is accepted alone.
//
// A lost connection is never replaced: the commands sent and not
// acknowledged may or may not have run, and resending them could apply a
// write twice. Every later call returns a *BulkLostError saying how many
// commands were acknowledged: the resume point.
type Bulk struct {
	o  BulkOptions
	fd int

	io   sync.Mutex
	out  []*bulkBatch // handed over, not all written: out[0] from its byte outOff on
	outN int          // bytes in out not written yet
	off  int
	rbuf []byte
	rr   int // rbuf[rr:rw] is read and not scanned
	rw   int
	need int // bytes the scanner needs from rr before it can go on
	scan bulkScanner
	raw  rawCounter
	// Monotonic ns of the last bytes read and written, for the socket timeout.
	rprogress, wprogress int64
	// roomMark: while Send waits for room, the unanswered commands it waits
	// down to (-1: not waiting); lowat: the socket's SO_RCVLOWAT now.
	roomMark, lowat int

	mu       sync.Mutex
	unacked  []*bulkBatch // handed over and not fully answered, oldest first
	queued   int64        // commands handed over
	sent     int64        // commands written
	acked    int64        // replies read
	pendBy   int          // bytes of unacked
	peakBy   int          // the most pendBy ever was
	errs     []BulkError
	errCount int64
	replies  Tape // KeepReplies: replies read and not yet taken, one entry each
	repliesN int
	err      error // the connection failed (or was closed): the Bulk is done
	closed   bool
}

// BulkOptions configure a Bulk.
type BulkOptions struct {
	Conn            Options // as the client's connections (Group.SubscriberOptions)
	MaxPending      int     // commands unanswered; 0: DefaultBulkMaxPending
	MaxPendingBytes int     // bytes of them; 0: DefaultBulkMaxPendingBytes
	MaxErrors       int     // error replies kept (later ones only counted); 0: DefaultBulkMaxErrors
	KeepReplies     bool    // keep every reply for TakeReplies
	Grow            GrowFunc
}

const (
	DefaultBulkMaxPending      = 100_000
	DefaultBulkMaxPendingBytes = 16 << 20
	DefaultBulkMaxErrors       = 1000
	// BulkMaxErrorCommand: a failed command's bytes kept with its error;
	// a longer command keeps only its name.
	BulkMaxErrorCommand = 4096
	// bulkReadBuf is the read buffer; it grows to hold one long reply and
	// shrinks back once idle.
	bulkReadBuf = 256 << 10
	// bulkMaxLowat bounds the SO_RCVLOWAT of a wait for room.
	bulkMaxLowat = 128 << 10
	// bulkLowatTick: the longest ppoll while a receive low-water mark is set.
	bulkLowatTick = 10 * time.Millisecond
)

// bulkBatch is one hand-over: its bytes stay until its last reply is read
// (an error reply's command is cut out of them).
type bulkBatch struct {
	data  []byte
	n     int   // commands it completes
	first int64 // index of the first of them
	// A cursor for finding failed commands: the command at index curIdx
	// starts at curOff (errors come in index order). A SendRaw chunk that
	// starts inside a command begun earlier starts its cursor after it.
	curIdx int64
	curOff int
}

// BulkError is an error reply to the command at Index (from 0).
type BulkError struct {
	Index   int64
	Command []byte // the command's RESP; nil when unknown (begun in an earlier SendRaw chunk)
	Msg     string
}

// BulkLostError is a lost connection (or a timeout, or a protocol error),
// with what was acknowledged before it: those commands ran; of the rest
// sent, any may have run too.
type BulkLostError struct {
	Acked, Sent, Queued int64
	Err                 error
}

func (e *BulkLostError) Error() string {
	return fmt.Sprintf("bulk connection lost after %d commands were acknowledged (%d sent, %d queued; "+
		"the acknowledged ones ran, any of the other sent ones may have): %v", e.Acked, e.Sent, e.Queued, e.Err)
}

func (e *BulkLostError) Unwrap() error { return e.Err }

// ErrBulkIncomplete: SendRaw's bytes ended in the middle of a command.
var ErrBulkIncomplete = &RawError{"the raw data ended in the middle of a command (it was never run)"}

// NewBulk makes a Bulk; Connect connects it.
func NewBulk(o BulkOptions) *Bulk {
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultBulkMaxPending
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = DefaultBulkMaxPendingBytes
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = DefaultBulkMaxErrors
	}
	// A bulk connection reads no keys for a cache and takes no pushes.
	o.Conn.Tracking, o.Conn.OnPush = nil, nil
	return &Bulk{o: o, fd: -1, replies: Tape{Grow: o.Grow}, scan: bulkScanner{keep: o.KeepReplies},
		roomMark: -1, lowat: 1}
}

// Connect dials and runs the client's init commands (AUTH, SELECT, HELLO
// 3 ...) in the calling thread, as a shared connection would.
func (b *Bulk) Connect(interrupt func() bool) error {
	c := NewPConn(&b.o.Conn)
	req := &Request{Interrupt: interrupt}
	c.mu.Lock()
	err := c.connectLocked(req)
	s := c.fd
	c.fd = nil // the connection is the Bulk's now
	c.mu.Unlock()
	if err == nil && s.tc != nil {
		// The bulk writer drives the descriptor itself, non-blocking;
		// crypto/tls cannot be driven that way (cpipe.bulk uses pipelines
		// over TLS instead).
		s.close()
		return &ConnError{errors.New("the bulk writer speaks plaintext only; over TLS bulk() sends a pipeline per batch")}
	}
	if err != nil {
		// An interrupted connect goes on in a goroutine: Close has it
		// close what it dials.
		c.Close()
		return err
	}
	b.io.Lock()
	defer b.io.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		s.close()
		return b.err
	}
	b.fd = s.fd
	b.rprogress, b.wprogress = nanotime(), nanotime()
	return nil
}

// Protocol is the RESP version the connection speaks (after Connect).
func (b *Bulk) Protocol() int { return int(b.o.Conn.share().proto.Load()) }

// Send hands over n RESP-encoded commands (data is copied). With mayBlock
// false it never waits: ErrWouldBlock, taking nothing, when there is no
// room (or another call is doing I/O).
func (b *Bulk) Send(data []byte, n int, mayBlock bool, interrupt func() bool) error {
	if n <= 0 {
		return nil
	}
	if !b.lockIO(mayBlock) {
		return ErrWouldBlock
	}
	defer b.io.Unlock()
	return b.handLocked(data, n, 0, mayBlock, interrupt)
}

// SendRaw hands over bytes of a request stream cut anywhere (RESP, or
// inline commands); the commands they complete are counted as the server
// will count them. want >= 0 must be that count, or nothing is sent.
// Returns the commands counted.
func (b *Bulk) SendRaw(data []byte, want int, mayBlock bool, interrupt func() bool) (int, error) {
	if !b.lockIO(mayBlock) {
		return 0, ErrWouldBlock
	}
	defer b.io.Unlock()
	save := b.raw
	n, head, err := b.raw.feed(data)
	if err == nil && want >= 0 && n != want {
		err = &RawError{fmt.Sprintf("the raw data holds %d complete commands, not %d", n, want)}
	}
	if err == nil && len(data) > 0 {
		err = b.handLocked(data, n, head, mayBlock, interrupt)
	}
	if err != nil {
		b.raw = save // nothing was taken
		return 0, err
	}
	return n, nil
}

func (b *Bulk) lockIO(mayBlock bool) bool {
	if mayBlock {
		b.io.Lock()
		return true
	}
	return b.io.TryLock()
}

// handLocked takes a batch: room first (waiting, reading replies, down to
// half the bound), then it joins the output queue, and the socket takes
// what it can now.
func (b *Bulk) handLocked(data []byte, n, head int, mayBlock bool, interrupt func() bool) error {
	if err := b.pump(false, nil, nil); err != nil {
		return err
	}
	if !b.hasRoom(n, len(data), b.o.MaxPending, b.o.MaxPendingBytes) {
		if !mayBlock {
			return ErrWouldBlock
		}
		lowCmds := min(b.o.MaxPending/2, b.o.MaxPending-n)
		lowBytes := max(0, min(b.o.MaxPendingBytes/2, b.o.MaxPendingBytes-len(data)))
		b.roomMark = lowCmds
		err := b.pump(true, func() bool { return b.hasRoom(n, len(data), lowCmds+n, lowBytes+len(data)) }, interrupt)
		b.roomMark = -1
		b.setLowat(1)
		if err != nil {
			return err
		}
	}
	bt := &bulkBatch{data: append([]byte(nil), data...), n: n, curOff: head}
	b.mu.Lock()
	bt.first, bt.curIdx = b.queued, b.queued
	if head > 0 {
		bt.curIdx++ // the first command it completes began in an earlier chunk
	}
	b.queued += int64(n)
	b.pendBy += len(bt.data)
	b.peakBy = max(b.peakBy, b.pendBy)
	b.unacked = append(b.unacked, bt)
	b.mu.Unlock()
	b.out = append(b.out, bt)
	b.outN += len(bt.data)
	return b.pump(false, nil, nil)
}

// beforeWait runs before pump sleeps in ppoll. Waiting for room, no
// wake-up can end the wait until the replies due have come: the kernel is
// told not to wake us for fewer bytes than they take (a reply is at least 3
// bytes), which spares a wake-up per server write (measured: 12,000 context
// switches for 3M commands down to 5,000, client CPU -13%).
func (b *Bulk) beforeWait() {
	if b.roomMark < 0 {
		return
	}
	// Only replies to what is written can come: counting the unwritten
	// commands too asked for bytes that could not arrive, and a wait then
	// lasted a whole tick (seen once in 12M commands with strace).
	b.mu.Lock()
	due := int(b.sent-b.acked) - b.roomMark
	b.mu.Unlock()
	b.setLowat(min(max(3*due, 1), bulkMaxLowat))
}

func (b *Bulk) setLowat(n int) {
	if n != b.lowat {
		setRcvLowat(b.fd, n)
		b.lowat = n
	}
}

// hasRoom: n more commands of size bytes keep the unanswered ones within
// cmds and bytes (always, when none is unanswered).
func (b *Bulk) hasRoom(n, size, cmds, bytes int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	pending := int(b.queued - b.acked)
	return pending == 0 || (pending+n <= cmds && b.pendBy+size <= bytes)
}

// Flush waits until everything handed over is written.
func (b *Bulk) Flush(interrupt func() bool) error {
	b.io.Lock()
	defer b.io.Unlock()
	return b.pump(true, func() bool { return b.outN == 0 }, interrupt)
}

// Finish waits until every command handed over is answered. With raw data
// that ended mid-command it fails the Bulk with ErrBulkIncomplete once the
// complete ones are answered.
func (b *Bulk) Finish(interrupt func() bool) error {
	b.io.Lock()
	defer b.io.Unlock()
	err := b.pump(true, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.acked == b.queued
	}, interrupt)
	if err != nil {
		return err
	}
	if !b.raw.complete() {
		b.mu.Lock()
		b.failLocked(ErrBulkIncomplete)
		b.mu.Unlock()
		return ErrBulkIncomplete
	}
	return nil
}

// lostLocked is the error for calls after a failure.
func (b *Bulk) lostLocked() error {
	var ce *ConnError
	if errors.Is(b.err, ErrTimeout) || errors.As(b.err, &ce) || errors.As(b.err, new(*ProtocolError)) {
		return &BulkLostError{Acked: b.acked, Sent: b.sent, Queued: b.queued, Err: b.err}
	}
	return b.err
}

// failLocked ends the Bulk: no more sends; a waiting call wakes up.
func (b *Bulk) failLocked(err error) {
	if b.err != nil {
		return
	}
	b.err = err
	if b.fd >= 0 {
		syscall.Shutdown(b.fd, syscall.SHUT_RDWR)
	}
}

// BulkStats are a Bulk's counters, as of the last call's I/O.
type BulkStats struct {
	Queued, Sent, Acked, Errors int64
	PendingBytes, PeakBytes     int
}

// Stats reads the counters, after reading the replies that have arrived
// (unless a call is doing I/O: it never waits for one).
func (b *Bulk) Stats() BulkStats {
	if b.io.TryLock() {
		b.pump(false, nil, nil) // a failure shows in the next call
		b.io.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return BulkStats{b.queued, b.sent, b.acked, b.errCount, b.pendBy, b.peakBy}
}

// TakeErrors returns the kept error replies not taken yet.
func (b *Bulk) TakeErrors() []BulkError {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.errs
	b.errs = nil
	return e
}

// TakeReplies returns the replies read and not taken yet (KeepReplies),
// as a tape of n entries the caller owns.
func (b *Bulk) TakeReplies() ([]byte, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, n := b.replies.Buf, b.repliesN
	b.replies.Buf, b.repliesN = nil, 0
	return t, n
}

// Close abandons what is unanswered (ErrClosed from now on) and closes
// the socket, once a call waiting in I/O has returned (the shutdown wakes it).
func (b *Bulk) Close() {
	b.mu.Lock()
	b.closed = true
	b.failLocked(ErrClosed)
	b.mu.Unlock()
	b.io.Lock()
	if b.fd >= 0 {
		syscall.Close(b.fd)
		b.fd = -1
	}
	b.io.Unlock()
}
