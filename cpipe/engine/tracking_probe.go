package engine

// probeIdle peeks at an idle connection and fails it if the server closed
// it (CLIENT KILL, its idle timeout, a restart) or sent bytes nobody asked
// for, so that client-side caching hears of the loss (Tracker.lost) now
// rather than at the connection's next command, which a cache serving
// every read may never send. A connection in use is left alone: its role
// holders see a failure themselves. Called by the invalidation goroutine
// about once per tick; the next command reconnects as after any failure.
func (c *PConn) probeIdle() {
	c.mu.Lock()
	if c.fd >= 0 && c.broken == nil && !c.closed && !c.connecting && !c.reading && !c.writing &&
		c.queued == 0 && !peerOpen(c.fd) {
		c.failLocked(errIdleClosed)
	}
	c.mu.Unlock()
}
