package engine

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Sockets are plain blocking file descriptors driven with read/sendmsg
// syscalls in the calling thread. The caller is a Python thread that entered
// Go through cgo; Go's netpoller would park it and need a second thread to
// wake it for every reply, which doubles the latency of a round trip.
// Every blocking syscall returns at least once per tick (SO_RCVTIMEO and
// SO_SNDTIMEO are set to it), so the caller can judge the socket timeout from
// the progress it saw and, in the thread that runs Python's signal handlers,
// let a signal through (see interrupt.go). A tick is not an error.

// ErrTimeout is returned when a read or write exceeds the socket timeout.
var ErrTimeout = errors.New("timed out waiting for the server")

// ConnError wraps a failure to connect, read or write.
type ConnError struct{ Err error }

func (e *ConnError) Error() string { return e.Err.Error() }
func (e *ConnError) Unwrap() error { return e.Err }

// dial connects with Go's dialer (name resolution, IPv4/IPv6, EINTR, connect
// timeout) and then takes the descriptor out of the runtime's poller as a
// blocking fd of our own; with Options.TLS it then runs the TLS handshake
// over that fd (tls_sock.go), within the same connect timeout.
func dial(o *Options) (*sock, error) {
	d := net.Dialer{}
	start := nanotime()
	if o.ConnectTimeout > 0 {
		d.Timeout = o.ConnectTimeout
	}
	fd, err := dialFd(o, &d)
	if err != nil {
		return nil, err
	}
	s := &sock{fd: fd}
	if o.TLS != nil {
		if err := s.handshake(o, start); err != nil {
			syscall.Close(fd)
			return nil, err
		}
	}
	return s, nil
}

// dialFd is dial's TCP (or unix socket) part.
func dialFd(o *Options, d *net.Dialer) (int, error) {
	var c net.Conn
	var err error
	if o.UnixPath != "" {
		c, err = d.Dial("unix", o.UnixPath)
	} else {
		c, err = d.Dial("tcp", net.JoinHostPort(o.Host, strconv.Itoa(o.Port)))
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return -1, ErrTimeout
		}
		return -1, &ConnError{fmt.Errorf("connecting to %s: %w", o.Addr(), unwrapOp(err))}
	}
	var fd int = -1
	var ferr error
	switch cc := c.(type) {
	case *net.TCPConn:
		f, e := cc.File()
		if e == nil {
			fd, ferr = syscall.Dup(int(f.Fd())) // Fd() puts the description in blocking mode
			f.Close()
		} else {
			ferr = e
		}
	case *net.UnixConn:
		f, e := cc.File()
		if e == nil {
			fd, ferr = syscall.Dup(int(f.Fd()))
			f.Close()
		} else {
			ferr = e
		}
	default:
		ferr = fmt.Errorf("unexpected connection type %T", c)
	}
	c.Close()
	if ferr != nil {
		return -1, &ConnError{ferr}
	}
	syscall.CloseOnExec(fd)
	if err := setTimeouts(fd, o.tick(), o.tick()); err != nil {
		syscall.Close(fd)
		return -1, &ConnError{err}
	}
	return fd, nil
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// setTimeouts sets how long one read or write syscall may wait; 0 means forever.
func setTimeouts(fd int, read, write time.Duration) error {
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, timeval(read)); err != nil {
		return err
	}
	return syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, timeval(write))
}

func timeval(d time.Duration) *syscall.Timeval {
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	if d > 0 && tv.Sec == 0 && tv.Usec == 0 {
		tv.Usec = 1 // a positive timeout below 1µs must not become "forever"
	}
	return &tv
}

func setRcvTimeout(s *sock, d time.Duration) error {
	return syscall.SetsockoptTimeval(s.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, timeval(d))
}

// errTick: a read or write syscall waited one tick without progress.
var errTick = errors.New("no progress within one tick")

// readSome reads at least one byte into p, or returns errTick.
func readSome(s *sock, p []byte) (int, error) {
	if s.tc != nil {
		return s.tlsRead(p, false)
	}
	return readFd(s.fd, p)
}

// readFd is readSome on a plaintext descriptor (and under TLS, on the
// ciphertext: tlsWire.fill).
func readFd(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errTick
		case err != nil:
			return 0, &ConnError{fmt.Errorf("reading from the server: %w", err)}
		case n == 0:
			return 0, &ConnError{errors.New("the server closed the connection")}
		}
		return n, nil
	}
}

// progressChunk bounds one sendmsg when progress is tracked, so progress is
// stamped at least every progressChunk bytes of a long transfer.
const progressChunk = 256 << 10

// writeAll writes p completely. MSG_NOSIGNAL keeps a closed peer from
// raising SIGPIPE in the host process.
// Each partial write stamps progress (when given) so a reader waiting on
// the same connection can tell a slow transfer from a dead server. stalled
// is asked after each tick without progress (nil: give up at once).
func writeAll(s *sock, p []byte, progress *atomic.Int64, st *stallCheck) error {
	if s.tc != nil {
		return s.tlsWrite(p, progress, st)
	}
	return writeFd(s.fd, p, progress, st)
}

// writeFd is writeAll on a plaintext descriptor (and under TLS, each
// encrypted record: tlsWire.Write).
func writeFd(fd int, p []byte, progress *atomic.Int64, st *stallCheck) error {
	since := int64(0)
	for len(p) > 0 {
		chunk := p
		if progress != nil && len(chunk) > progressChunk {
			chunk = chunk[:progressChunk]
		}
		n, err := syscall.SendmsgN(fd, chunk, nil, nil, syscall.MSG_NOSIGNAL)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if since == 0 {
				since = nanotime()
			}
			if err := st.stalled(since); err != nil {
				return err
			}
			continue
		case err != nil:
			return &ConnError{fmt.Errorf("writing to the server: %w", err)}
		}
		p = p[n:]
		since = 0
		if progress != nil {
			progress.Store(nanotime())
		}
	}
	return nil
}

// What a non-blocking peek at an idle connection finds.
const (
	peekEmpty  = iota // nothing: the connection is open and in step
	peekBytes         // bytes nobody asked for yet: push frames, or a stray reply
	peekClosed        // EOF or an error: it cannot carry a new request
)

// peekIdle peeks at an idle connection without blocking.
func peekIdle(s *sock) int {
	if s.tc != nil {
		return s.tlsPeek()
	}
	var b [1]byte
	fd := s.fd
	for {
		n, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return peekEmpty
		case err == nil && n > 0:
			return peekBytes
		}
		return peekClosed
	}
}

// readNow reads what has arrived, without waiting: (0, nil) when nothing
// has, io.EOF-like errIdleClosed when the peer hung up.
func readNow(s *sock, p []byte) (int, error) {
	if s.tc != nil {
		return s.tlsRead(p, true)
	}
	fd := s.fd
	for {
		n, _, err := syscall.Recvfrom(fd, p, syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, err
		case n == 0:
			return 0, errIdleClosed
		}
		return n, nil
	}
}
