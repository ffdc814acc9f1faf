package engine

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// tlsWire is the net.Conn crypto/tls reads and writes: our blocking
// descriptor, with its ticks, its stall checks and its progress stamps.
//
// Reads. crypto/tls keeps a record it has half read only when the read
// error is a net.Error whose Temporary() is true (any other error is sticky
// and ends the connection), so a tick is reported as tlsTick, which is
// both Timeout and Temporary: the caller judges its timeout and signals
// exactly as on a plaintext socket, then reads again and crypto/tls goes
// on where it stopped. The wire reads from the kernel into buf as much as
// has arrived, but hands crypto/tls at most one record per Read: a record
// read ahead stays in buf (sock.buffered sees it) rather than in tls.Conn's
// private buffer, where an idle connection's peek could not find it.
//
// Writes. crypto/tls makes any write error sticky, so a write is never
// given up on a tick: Write loops as writeFd does, stamping progress and
// asking the writer's stallCheck (set per writeAll in wctx), and fails only
// on a timeout, an interrupt or a dead socket, after which the connection
// is failed anyway (a half-written request cannot be taken back, TLS or not).
type tlsWire struct {
	fd int

	buf  []byte // ciphertext read from the socket, buf[r:w] not yet handed out
	r, w int
	hdr  [tlsHeaderLen]byte // the header of the record being handed out ...
	hdrN int                // ... hdrN bytes of it so far
	left int                // body bytes of that record still to hand out; 0: in a header

	nonblock bool  // reads: return tlsTick at once instead of waiting a tick (peeks)
	until    int64 // the handshake: ticks are waited through until this nanotime (0: none)
	tick     time.Duration

	wctx atomic.Pointer[wireWrite] // the current writeAll's; nil: crypto/tls's own (an alert)
}

// wireWrite is what one writeAll lends the wire for its duration.
type wireWrite struct {
	progress *atomic.Int64
	st       *stallCheck
}

const (
	tlsHeaderLen = 5
	// tlsWireBuf: one read from the kernel takes up to this much ciphertext.
	tlsWireBuf = 64 << 10
	// maxPlaintext is the most one TLS record decrypts to (RFC 8446, 5.1).
	maxPlaintext = 16 << 10
)

// tlsTick is a tick without bytes, as crypto/tls must see it to resume.
type tlsTickError struct{}

func (tlsTickError) Error() string   { return errTick.Error() }
func (tlsTickError) Timeout() bool   { return true }
func (tlsTickError) Temporary() bool { return true }

var tlsTick net.Error = tlsTickError{}

func (w *tlsWire) Read(p []byte) (int, error) {
	if w.r == w.w {
		if err := w.fill(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(p) && w.r < w.w {
		avail := w.buf[w.r:w.w]
		var k int
		ends := false
		if w.left == 0 {
			k = min(tlsHeaderLen-w.hdrN, len(avail), len(p)-n)
			copy(w.hdr[w.hdrN:], avail[:k])
			if w.hdrN += k; w.hdrN == tlsHeaderLen {
				w.hdrN = 0
				w.left = int(w.hdr[3])<<8 | int(w.hdr[4])
				ends = w.left == 0
			}
		} else {
			k = min(w.left, len(avail), len(p)-n)
			w.left -= k
			ends = w.left == 0
		}
		copy(p[n:], avail[:k])
		n += k
		w.r += k
		if ends {
			break // one record per Read: the next stays in buf
		}
	}
	return n, nil
}

// fill reads what has arrived into buf (empty on entry).
func (w *tlsWire) fill() error {
	if w.buf == nil {
		w.buf = make([]byte, tlsWireBuf)
	}
	w.r, w.w = 0, 0
	for {
		var n int
		var err error
		if w.nonblock {
			n, _, err = syscall.Recvfrom(w.fd, w.buf, syscall.MSG_DONTWAIT)
		} else {
			n, err = syscall.Read(w.fd, w.buf)
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if w.until == 0 {
				return tlsTick
			}
			if nanotime() >= w.until {
				return ErrTimeout
			}
			continue
		case err != nil:
			return &ConnError{fmt.Errorf("reading from the server: %w", err)}
		case n == 0:
			return io.EOF
		}
		w.w = n
		return nil
	}
}

func (w *tlsWire) Write(b []byte) (int, error) {
	var progress *atomic.Int64
	var st *stallCheck
	if ctx := w.wctx.Load(); ctx != nil {
		progress, st = ctx.progress, ctx.st
	} else if w.until != 0 {
		// The handshake: a stall waits until the connect deadline (or for ever).
		left := time.Duration(0)
		if w.until != maxDeadline {
			left = max(time.Duration(w.until-nanotime()), time.Millisecond)
		}
		st = &stallCheck{timeout: left, tick: w.tick}
	}
	if err := writeFd(w.fd, b, progress, st); err != nil {
		return 0, err
	}
	return len(b), nil
}

// maxDeadline: a handshake with no connect or socket timeout waits for ever.
const maxDeadline = int64(^uint64(0) >> 1)

// The rest of net.Conn: crypto/tls never calls these on a client
// connection we drive ourselves (deadlines are our ticks).
func (w *tlsWire) Close() error                     { return nil }
func (w *tlsWire) LocalAddr() net.Addr              { return wireAddr{} }
func (w *tlsWire) RemoteAddr() net.Addr             { return wireAddr{} }
func (w *tlsWire) SetDeadline(time.Time) error      { return nil }
func (w *tlsWire) SetReadDeadline(time.Time) error  { return nil }
func (w *tlsWire) SetWriteDeadline(time.Time) error { return nil }

type wireAddr struct{}

func (wireAddr) Network() string { return "tcp" }
func (wireAddr) String() string  { return "cpipe-fd" }
