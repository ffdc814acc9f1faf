package engine

import (
	"syscall"
	"time"
)

// The Bulk's socket I/O, all non-blocking, in the caller's thread: a
// write or read takes what the kernel can take or give now, and waiting
// is one ppoll for whichever direction can make progress.

// pollOut is poll's POLLOUT (pollFd, pollIn, pollWait: tracking_inband.go).
const pollOut = 0x4

// waitFd waits up to d for fd to be readable (or writable too, with
// write): false after d with neither (an EINTR counts as that: the caller
// looks again).
func waitFd(fd int, write bool, d time.Duration) bool {
	p := []pollFd{{fd: int32(fd), events: pollIn}}
	if write {
		p[0].events |= pollOut
	}
	return pollWait(p, d) > 0
}

// sendNow writes what the socket takes now: (0, nil) when it takes nothing.
func sendNow(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.SendmsgN(fd, p, nil, nil, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, &ConnError{err}
		}
		return n, nil
	}
}

// recvNow reads what has arrived: (0, nil) when nothing has.
func recvNow(fd int, p []byte) (int, error) {
	for {
		n, _, err := syscall.Recvfrom(fd, p, syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, &ConnError{err}
		case n == 0:
			return 0, errServerClosed
		}
		return n, nil
	}
}

var errServerClosed = &ConnError{errServerClosedMsg{}}

type errServerClosedMsg struct{}

func (errServerClosedMsg) Error() string { return "the server closed the connection" }

// setRcvLowat makes poll report fd readable only once n bytes are buffered
// (Linux honours it for TCP since 4.18; elsewhere it only wakes us more).
func setRcvLowat(fd, n int) {
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
}
