package engine

import (
	"syscall"
	"time"
	"unsafe"
)

// In-band tracking (RESP3): the invalidations of a shared connection come
// as push frames on that connection. A connection in use has them read by
// its reading role's holder, in order with the replies, so the sink hears
// of an invalidation before any reply the server sent after it. An idle
// connection has nobody reading it, and a cache hit never enters the
// engine: the watcher goroutine below polls the group's idle in-band
// connections (poll(2), at most one interruptTick per wait) and drains
// what arrives at once (drainIdleLocked: the pushes go to OnPush, hence
// to the sink). It also fails an idle connection the server closed, so its
// loss flushes the cache now (Tracker.lost), as probeIdle does for REDIRECT
// mode.

// watchBusyPause bounds the wait when some in-band connection is in use:
// one that becomes idle during a poll joins the next one within it.
const watchBusyPause = 2 * time.Millisecond

// fellBack: c asked HELLO 3 with in-band tracking and got RESP2; it
// connects again with REDIRECT. Whatever was read on it is untracked.
func (t *Tracker) fellBack(c *PConn) {
	t.sink.Flush()
}

// startWatching starts the in-band watcher once.
func (t *Tracker) startWatching() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errTrackingClosed
	}
	if !t.watching {
		t.watching = true
		go t.watch()
	}
	return nil
}

type pollFd struct {
	fd             int32
	events, revent int16
}

const (
	pollIn   = 0x1
	pollPri  = 0x2
	pollErr  = 0x8
	pollHup  = 0x10
	pollNval = 0x20
)

// watch is the in-band watcher goroutine.
func (t *Tracker) watch() {
	defer close(t.watchDone)
	var fds []pollFd
	var conns []*PConn
	var socks []*sock
	var ahead []bool // TLS: bytes already read into the process, which poll(2) does not see
	for !t.isClosed() {
		fds, conns, socks, ahead = fds[:0], conns[:0], socks[:0], ahead[:0]
		anyAhead := false
		busy := false
		for _, c := range t.g.conns {
			t.mu.Lock()
			id, tracked := t.used[c]
			t.mu.Unlock()
			if !tracked || id != 0 {
				continue
			}
			c.mu.Lock()
			if c.idleLocked() {
				fds = append(fds, pollFd{fd: int32(c.fd.fd), events: pollIn})
				conns = append(conns, c)
				socks = append(socks, c.fd)
				ahead = append(ahead, c.fd.buffered())
				anyAhead = anyAhead || ahead[len(ahead)-1]
			} else if !c.closed {
				busy = true
			}
			c.mu.Unlock()
		}
		wait := interruptTick
		if busy {
			wait = watchBusyPause
		}
		if len(fds) == 0 {
			time.Sleep(wait)
			continue
		}
		if anyAhead {
			wait = 0
		}
		n := pollWait(fds, wait)
		for i := range ahead {
			if ahead[i] {
				fds[i].revent |= pollIn
				n = max(n, 1)
			}
		}
		if n <= 0 {
			continue
		}
		drained := false
		for i := range fds {
			if fds[i].revent&(pollIn|pollPri|pollErr|pollHup) == 0 {
				continue
			}
			if conns[i].drainIfIdle(socks[i]) {
				drained = true
			}
		}
		if !drained {
			// Readiness nobody could act on (the connection got busy, or its
			// descriptor changed): do not spin on it.
			time.Sleep(watchBusyPause)
		}
	}
}

// pollWait is poll(2) on fds for at most d; the number ready, or <= 0.
func pollWait(fds []pollFd, d time.Duration) int {
	ts := syscall.NsecToTimespec(int64(d))
	n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])),
		uintptr(len(fds)), uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if errno != 0 {
		return -1
	}
	return int(n)
}

// idleLocked: c is connected and nobody uses it.
func (c *PConn) idleLocked() bool {
	return c.fd != nil && c.broken == nil && !c.closed && !c.connecting && !c.reading && !c.writing &&
		c.queued == 0
}

// drainIfIdle reads what the idle connection c (still on fd) received:
// its push frames go to OnPush; a server that closed it fails it (and the
// tracker flushes). It reports whether it acted.
func (c *PConn) drainIfIdle(fd *sock) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd != fd || !c.idleLocked() {
		return false
	}
	switch peekIdle(fd) {
	case peekClosed:
		c.failLocked(errIdleClosed)
	case peekBytes:
		c.drainIdleLocked()
	default:
		return false
	}
	return true
}
