package engine

// RESP3 push frames on a shared connection. The reader hands every
// top-level push frame to Options.OnPush (Reader.OnPush, set by NewPConn)
// wherever it meets one: between a request's replies (readReplies), right
// after a request's last reply (scanTrailingPushes), or on an idle
// connection, where nobody reads: there the next caller's idle peek finds
// the bytes and drainIdleLocked reads them before its request is sent.

// drainIdleLocked reads, without waiting, what an idle connection has
// received: push frames go to OnPush; anything else is a stray reply and
// fails the connection (a request sent now could take it for its own).
// It holds both roles meanwhile (named step: "drain"), so no request can
// be written, and no reply of one read, as part of the drain; a request
// that queued up meanwhile is written once it ends.
func (c *PConn) drainIdleLocked() {
	c.writing, c.reading = true, true
	fd := c.fd
	c.mu.Unlock()
	err := c.readPushesNow(fd)
	c.mu.Lock()
	if err != nil {
		c.failLocked(err)
	}
	c.writing = false
	c.releaseReadingLocked()
	if len(c.pending) > 0 && c.broken == nil && c.claimWritingLocked() {
		go c.writeInBackground()
	}
}

// readPushesNow is the drain's reading: reading role, lock released.
func (c *PConn) readPushesNow(fd *sock) error {
	if c.rbuf == nil {
		c.rbuf = make([]byte, readBufSize)
	}
	var none Tape // a push frame writes nothing here; anything else is refused first
	for {
		need := 1
		for c.rr < c.rw {
			if !c.rd.InPush() && c.rbuf[c.rr] != KindPush {
				return strayBytes(c.rbuf[c.rr:c.rw])
			}
			n, done, nd, err := c.rd.Scan(c.rbuf[c.rr:c.rw], &none)
			c.rr += n
			if err != nil {
				return err
			}
			if done || len(none.Buf) > 0 {
				return strayBytes(c.rbuf[c.rr:c.rw]) // cannot happen: only a push frame was scanned
			}
			if nd > 0 {
				need = nd
				break
			}
		}
		c.makeRoom(need)
		m, err := readNow(fd, c.rbuf[c.rw:])
		if err != nil {
			return err
		}
		if m == 0 {
			return nil // the rest of a frame not all here yet comes with the next reply
		}
		c.progress.Store(nanotime())
		c.rw += m
	}
}

// DroppedPushes is the number of push frames connections of g received
// with no Options.OnPush to take them.
func (g *Group) DroppedPushes() int64 { return g.o.share().dropped.Load() }

// Protocol is the RESP version g's connections speak: RESP3 once a connect
// settled on it, RESP2 when the server refused HELLO 3 or none was asked
// for; 0 before the first connect completes.
func (g *Group) Protocol() int { return int(g.o.share().proto.Load()) }
