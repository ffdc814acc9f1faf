package engine

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
)

// A Bulk streams commands on a connection of its own: the caller hands it
// batches of RESP-encoded commands (Send, SendRaw) and returns at once;
// the writer goroutine writes them while the reader goroutine reads and
// counts the replies, so encoding, sending and the server's work overlap.
// Replies are not kept (unless BulkOptions.KeepReplies): only error replies
// are, with their command's index and bytes.
//
// Roles (the invariants of this concurrency seam):
//   - the caller: one thread at a time (the bridge's BulkWriter belongs to
//     one Python object); Connect, Send, SendRaw, Finish, Take*, Close.
//   - the writer goroutine (writeLoop): the only one that writes to fd.
//   - the reader goroutine (readLoop): the only one that reads fd and owns
//     the reply scanner.
//
// mu guards everything else. fd is closed only by Close, once both
// goroutines have returned; a failure only shuts it down (waking both).
//
// Memory: commands handed over and not yet answered are bounded by
// MaxPending commands and MaxPendingBytes bytes; Send waits (the caller's
// thread, the GIL released) until the reader's acknowledgements make room.
// A single batch larger than the bound is accepted alone.
//
// A lost connection is never replaced: the commands sent and not
// acknowledged may or may not have run, and resending them could apply a
// write twice. Every later call returns a *BulkLostError saying how many
// commands were acknowledged: the resume point.
type Bulk struct {
	o  BulkOptions
	fd int

	mu       sync.Mutex
	room     *sync.Cond // acknowledgements, or a failure: a waiting caller looks again
	work     *sync.Cond // a batch to write, or a failure/close: the writer looks again
	toWrite  []*bulkBatch
	unacked  []*bulkBatch // handed over and not fully answered, oldest first (toWrite's too)
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
	closing  bool
	running  bool // the goroutines were started
	raw      rawCounter

	readerDone, writerDone chan struct{}
	wprogress              atomic.Int64
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
	// a longer command keeps only its name (the error says so).
	BulkMaxErrorCommand = 4096
)

// bulkBatch is one hand-over: its bytes stay until its last reply is read
// (an error reply's command is cut out of them).
type bulkBatch struct {
	data  []byte
	n     int   // commands it completes
	first int64 // index of the first of them
	head  int   // bytes at its start ending a command begun in an earlier batch (SendRaw)
	// A cursor for finding failed commands: the command at index curIdx
	// starts at curOff (errors come in index order).
	curIdx int64
	curOff int
}

// BulkError is an error reply to the command at Index (from 0).
type BulkError struct {
	Index   int64
	Command []byte // the command's RESP; nil when unknown (begun in an earlier SendRaw chunk) or too long
	Msg     string
}

// BulkLostError is a lost connection (or a timeout), with what was
// acknowledged before it: those commands ran; of the rest sent, any may
// have run too.
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
	b := &Bulk{o: o, fd: -1, replies: Tape{Grow: o.Grow}}
	b.room = sync.NewCond(&b.mu)
	b.work = sync.NewCond(&b.mu)
	return b
}

// Connect dials and runs the client's init commands (AUTH, SELECT, HELLO
// 3 ...) in the calling thread, then starts the writer and the reader.
func (b *Bulk) Connect(interrupt func() bool) error {
	c := NewPConn(&b.o.Conn)
	c.rd.OnPush = nil
	req := &Request{Interrupt: interrupt}
	c.mu.Lock()
	err := c.connectLocked(req)
	fd := c.fd
	c.fd = -1 // the fd is the Bulk's now
	c.mu.Unlock()
	if err != nil {
		// An interrupted connect goes on in a goroutine: Close has it
		// close what it dials.
		c.Close()
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		syscall.Close(fd)
		return b.err
	}
	b.fd = fd
	b.running = true
	b.readerDone, b.writerDone = make(chan struct{}), make(chan struct{})
	go b.writeLoop()
	go b.readLoop(c.o.SocketTimeout)
	return nil
}

// Protocol is the RESP version the connection speaks (after Connect).
func (b *Bulk) Protocol() int { return int(b.o.Conn.share().proto.Load()) }

// Send hands over n RESP-encoded commands (data is copied). It waits for
// room first unless mayBlock is false, when it returns ErrWouldBlock and
// takes nothing.
func (b *Bulk) Send(data []byte, n int, mayBlock bool, interrupt func() bool) error {
	if n <= 0 {
		return nil
	}
	return b.hand(data, n, 0, mayBlock, interrupt)
}

// SendRaw hands over bytes of a request stream cut anywhere (RESP, or
// inline commands); the commands they complete are counted as the server
// will count them. want >= 0 must be that count, or nothing is sent.
// Returns the commands counted.
func (b *Bulk) SendRaw(data []byte, want int, mayBlock bool, interrupt func() bool) (int, error) {
	b.mu.Lock()
	save := b.raw
	n, head, err := b.raw.feed(data)
	if err == nil && want >= 0 && n != want {
		err = &RawError{fmt.Sprintf("the raw data holds %d complete commands, not %d", n, want)}
	}
	if err != nil {
		b.raw = save
		b.mu.Unlock()
		return 0, err
	}
	b.mu.Unlock()
	if len(data) == 0 {
		return 0, nil
	}
	if err := b.hand(data, n, head, mayBlock, interrupt); err != nil {
		b.mu.Lock()
		b.raw = save // nothing was taken
		b.mu.Unlock()
		return 0, err
	}
	return n, nil
}

func (b *Bulk) hand(data []byte, n, head int, mayBlock bool, interrupt func() bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.err != nil {
			return b.lostLocked()
		}
		if !b.running {
			return ErrClosed
		}
		pending := int(b.queued - b.acked)
		if pending == 0 || (pending+n <= b.o.MaxPending && b.pendBy+len(data) <= b.o.MaxPendingBytes) {
			break
		}
		if !mayBlock {
			return ErrWouldBlock
		}
		if err := b.waitLocked(interrupt); err != nil {
			return err
		}
	}
	bt := &bulkBatch{data: append([]byte(nil), data...), n: n, first: b.queued, head: head}
	bt.curIdx, bt.curOff = bt.first, head
	if head > 0 {
		bt.curIdx++ // the first command it completes began earlier
	}
	b.queued += int64(n)
	b.pendBy += len(bt.data)
	b.peakBy = max(b.peakBy, b.pendBy)
	b.toWrite = append(b.toWrite, bt)
	b.unacked = append(b.unacked, bt)
	b.work.Signal()
	return nil
}

// waitLocked waits for b.room, a tick at a time when interruptible; an
// interrupted wait fails the Bulk (what was sent may be on the wire).
func (b *Bulk) waitLocked(interrupt func() bool) error {
	if interrupt == nil {
		b.room.Wait()
		return nil
	}
	if err := waitTick(b.room, interruptTick, &Request{Interrupt: interrupt}); err != nil {
		b.failLocked(err)
		return err
	}
	return nil
}

// Finish waits until every command handed over is answered. With raw data
// that ended mid-command it fails the Bulk with ErrBulkIncomplete once the
// complete ones are answered.
func (b *Bulk) Finish(interrupt func() bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && b.acked < b.queued {
		if err := b.waitLocked(interrupt); err != nil {
			return err
		}
	}
	if b.err != nil {
		return b.lostLocked()
	}
	if !b.raw.complete() {
		b.failLocked(ErrBulkIncomplete)
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

// failLocked ends the Bulk: no more sends; both goroutines stop.
func (b *Bulk) failLocked(err error) {
	if b.err != nil {
		return
	}
	b.err = err
	if b.fd >= 0 {
		syscall.Shutdown(b.fd, syscall.SHUT_RDWR)
	}
	b.room.Broadcast()
	b.work.Broadcast()
}

// BulkStats are a Bulk's counters.
type BulkStats struct {
	Queued, Sent, Acked, Errors int64
	PendingBytes, PeakBytes     int
}

// Stats reads the counters.
func (b *Bulk) Stats() BulkStats {
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

// Close fails what is unanswered (ErrClosed), stops both goroutines and
// closes the socket.
func (b *Bulk) Close() {
	b.mu.Lock()
	b.closing = true
	b.failLocked(ErrClosed)
	running := b.running
	b.mu.Unlock()
	if running {
		<-b.writerDone
		<-b.readerDone
	}
	b.mu.Lock()
	if b.fd >= 0 {
		syscall.Close(b.fd)
		b.fd = -1
	}
	b.running = false
	b.mu.Unlock()
}

// writeLoop is the writer goroutine: it writes batches in order.
func (b *Bulk) writeLoop() {
	defer close(b.writerDone)
	st := stallCheck{timeout: b.o.Conn.SocketTimeout, tick: b.o.Conn.tick()}
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for len(b.toWrite) == 0 && b.err == nil {
			b.work.Wait()
		}
		if b.err != nil {
			return
		}
		bt := b.toWrite[0]
		b.mu.Unlock()
		err := writeAll(b.fd, bt.data, &b.wprogress, &st)
		b.mu.Lock()
		if err != nil {
			b.failLocked(err)
			return
		}
		b.toWrite[0] = nil
		b.toWrite = b.toWrite[1:]
		if len(b.toWrite) == 0 {
			b.toWrite = b.toWrite[:0:0]
		}
		b.sent += int64(bt.n)
	}
}
