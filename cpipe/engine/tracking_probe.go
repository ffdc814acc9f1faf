package engine

// probeIdle peeks at an idle connection and fails it if the server closed
// it (CLIENT KILL, its idle timeout, a restart), so that client-side caching hears of the loss (Tracker.lost) now
// rather than at the connection's next command, which a cache serving
// every read may never send. A connection in use is left alone: its role
// holders see a failure themselves, and bytes that wait on an idle
// connection (RESP3 push frames, or a stray reply) are for its next caller
// to drain or to refuse (PConn.Do's peek). Called by the invalidation goroutine
// about once per tick; the next command reconnects as after any failure.
func (c *PConn) probeIdle() {
	c.mu.Lock()
	if c.fd != nil && c.broken == nil && !c.closed && !c.connecting && !c.reading && !c.writing &&
		c.queued == 0 && peekIdle(c.fd) == peekClosed {
		c.failLocked(errIdleClosed)
	}
	c.mu.Unlock()
}
