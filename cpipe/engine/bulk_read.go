package engine

import (
	"bytes"
	"strconv"
	"time"
)

// The Bulk's reader goroutine: it reads replies as they come and counts
// them. The replies of bulk writes are almost all one line (+OK, :1), so
// those are skipped in place without a tape; anything else (an aggregate,
// a RESP3 type, a reply split across reads) goes through the Reader into a
// scratch tape, or into the replies tape when they are kept.

// bulkReadBuf is the reader's buffer; it grows to hold one long reply and
// shrinks back once idle.
const bulkReadBuf = 256 << 10

// bulkScanner is the reader goroutine's state.
type bulkScanner struct {
	rd      Reader
	tape    Tape // scratch (replies not kept), or the kept replies read since the last hand-over
	keep    bool
	inScan  bool // rd holds a half-scanned reply, begun at tape offset mark
	mark    int
	errs    []bulkReplyErr
	keptN   int
	scanned int64 // replies completed by this scan, relative to the last hand-over
}

type bulkReplyErr struct {
	rel int64 // replies before it, since the last hand-over
	msg string
}

// scan counts up to expect complete replies in p. It returns the bytes
// consumed and, when it stopped for want of bytes, how many bytes from
// p[n:] it needs (0 when it stopped at expect).
func (s *bulkScanner) scan(p []byte, expect int64) (n, need int, err error) {
	for s.scanned < expect {
		q := p[n:]
		if len(q) == 0 {
			return n, 1, nil
		}
		if !s.keep && !s.inScan {
			used, want, isErr, ok, err := skipSimple(q)
			if err != nil {
				return n, 0, err
			}
			if ok {
				if want > 0 {
					return n, want, nil
				}
				if isErr {
					s.errs = append(s.errs, bulkReplyErr{s.scanned, string(q[1 : used-2])})
				}
				n += used
				s.scanned++
				continue
			}
		}
		if !s.inScan {
			s.mark = len(s.tape.Buf)
		}
		used, done, want, err := s.rd.Scan(q, &s.tape)
		n += used
		if err != nil {
			return n, 0, err
		}
		if !done {
			if want == 0 {
				continue // a push frame, dropped: the reply is still to come
			}
			s.inScan = true
			return n, want, nil
		}
		s.inScan = false
		if s.tape.Buf[s.mark] == KindError {
			l := int(leUint64(s.tape.Buf[s.mark+1:]))
			s.errs = append(s.errs, bulkReplyErr{s.scanned, string(s.tape.Buf[s.mark+9 : s.mark+9+l])})
		}
		s.scanned++
		if s.keep {
			s.keptN++
		} else {
			s.tape.Reset()
		}
	}
	return n, 0, nil
}

// skipSimple skips one reply of a one-line type (+ - : _ # , and a bulk
// string) at q. ok false: another type, for the Reader. want > 0: the reply
// is not all here; want bytes from q's start are needed.
func skipSimple(q []byte) (used, want int, isErr, ok bool, err error) {
	switch q[0] {
	case '+', '-', ':', '_', '#', ',':
	case '$':
		nl := bytes.IndexByte(q, '\n')
		if nl < 0 {
			if len(q) > MaxLineLen {
				return 0, 0, false, true, protoErr("line longer than %d bytes", MaxLineLen)
			}
			return 0, len(q) + 1, false, true, nil
		}
		if nl < 2 || q[nl-1] != '\r' {
			return 0, 0, false, true, protoErr("line not terminated by CRLF")
		}
		l, good := parseInt(q[1 : nl-1])
		if !good || l < -1 || l > MaxBulkLen {
			return 0, 0, false, true, protoErr("bad bulk length %q", clip(q[1:nl-1]))
		}
		if l == -1 {
			return nl + 1, 0, false, true, nil
		}
		end := nl + 1 + int(l)
		if len(q) < end+2 {
			return 0, end + 2, false, true, nil
		}
		if q[end] != '\r' || q[end+1] != '\n' {
			return 0, 0, false, true, protoErr("bulk string not terminated by CRLF")
		}
		return end + 2, 0, false, true, nil
	default:
		return 0, 0, false, false, nil
	}
	nl := bytes.IndexByte(q, '\n')
	if nl < 0 {
		if len(q) > MaxLineLen {
			return 0, 0, false, true, protoErr("line longer than %d bytes", MaxLineLen)
		}
		return 0, len(q) + 1, false, true, nil
	}
	if nl < 1 || q[nl-1] != '\r' {
		return 0, 0, false, true, protoErr("line not terminated by CRLF")
	}
	if q[0] == ':' {
		if _, good := parseInt(q[1 : nl-1]); !good {
			return 0, 0, false, true, protoErr("bad integer %q", clip(q[1:nl-1]))
		}
	}
	return nl + 1, 0, q[0] == '-', true, nil
}

// readLoop is the reader goroutine.
func (b *Bulk) readLoop(timeout time.Duration) {
	defer close(b.readerDone)
	s := &bulkScanner{keep: b.o.KeepReplies}
	buf := make([]byte, bulkReadBuf)
	r, w := 0, 0
	var waitFrom int64 // when the current wait for bytes with replies due began; 0: not waiting
	b.mu.Lock()
	fd, expect := b.fd, b.queued-b.acked
	b.mu.Unlock()
	for {
		n, need, err := s.scan(buf[r:w], expect)
		r += n
		if s.scanned > 0 || err != nil || (need == 0 && r < w) {
			b.mu.Lock()
			b.ackLocked(s)
			if err == nil && need == 0 && r < w && b.queued == b.acked && !s.rd.InPush() {
				err = strayBytes(buf[r:w])
			}
			if err != nil || b.err != nil {
				b.failLocked(err)
				b.mu.Unlock()
				return
			}
			expect = b.queued - b.acked
			b.mu.Unlock()
			if need == 0 && r < w {
				continue // more replies were asked for meanwhile
			}
		}
		if r == w {
			r, w = 0, 0
			if len(buf) > bulkReadBuf && !s.inScan {
				buf = make([]byte, bulkReadBuf)
			}
		}
		if need > len(buf)-r {
			if need > len(buf) {
				nb := make([]byte, max(need, 2*len(buf)))
				w = copy(nb, buf[r:w])
				buf = nb
			} else {
				w = copy(buf, buf[r:w])
			}
			r = 0
		}
		m, err := readSome(fd, buf[w:])
		if err == errTick {
			b.mu.Lock()
			failed := b.err != nil
			expect = b.queued - b.acked
			b.mu.Unlock()
			if failed {
				return
			}
			now := nanotime()
			if expect == 0 {
				waitFrom = 0
				continue
			}
			if waitFrom == 0 {
				waitFrom = now - int64(b.o.Conn.tick())
			}
			// Not a timeout while the upload still makes progress.
			if timeout > 0 && now-max(waitFrom, b.wprogress.Load()) >= int64(timeout) {
				b.mu.Lock()
				b.failLocked(ErrTimeout)
				b.mu.Unlock()
				return
			}
			continue
		}
		if err != nil {
			b.mu.Lock()
			b.failLocked(err)
			b.mu.Unlock()
			return
		}
		waitFrom = 0
		w += m
		if expect == 0 {
			b.mu.Lock()
			expect = b.queued - b.acked
			b.mu.Unlock()
		}
	}
}

// ackLocked takes what the scanner counted since the last call: errors
// (kept with their command, up to MaxErrors), kept replies, and the count,
// releasing the batches now fully answered.
func (b *Bulk) ackLocked(s *bulkScanner) {
	for _, e := range s.errs {
		b.errCount++
		if len(b.errs) < b.o.MaxErrors {
			idx := b.acked + e.rel
			b.errs = append(b.errs, BulkError{Index: idx, Command: b.commandAt(idx), Msg: e.msg})
		}
	}
	s.errs = s.errs[:0]
	if s.keep && s.keptN > 0 {
		done := s.tape.Buf
		if s.inScan {
			done = done[:s.mark]
		}
		copy(b.replies.Reserve(len(done)), done)
		b.repliesN += s.keptN
		rest := copy(s.tape.Buf, s.tape.Buf[len(done):])
		s.tape.Buf = s.tape.Buf[:rest]
		s.mark -= len(done)
		s.keptN = 0
	}
	b.acked += s.scanned
	s.scanned = 0
	for len(b.unacked) > 0 {
		bt := b.unacked[0]
		if bt.first+int64(bt.n) > b.acked {
			break
		}
		b.pendBy -= len(bt.data)
		b.unacked[0] = nil
		b.unacked = b.unacked[1:]
	}
	if len(b.unacked) == 0 {
		b.unacked = b.unacked[:0:0]
	}
	b.room.Broadcast()
}

// commandAt is the RESP of the command at idx, from its batch (still
// unreleased: its reply was just read); nil when unknown.
func (b *Bulk) commandAt(idx int64) []byte {
	for _, bt := range b.unacked {
		if idx < bt.first || idx >= bt.first+int64(bt.n) {
			continue
		}
		if bt.curIdx > idx {
			return nil // begun in an earlier chunk (SendRaw)
		}
		for {
			start, end, ok := nextCommand(bt.data, bt.curOff)
			if !ok {
				return nil
			}
			bt.curOff = end
			bt.curIdx++
			if bt.curIdx-1 == idx {
				return shortCommand(bt.data[start:end])
			}
		}
	}
	return nil
}

// shortCommand copies cmd, or only its name when it is longer than
// BulkMaxErrorCommand.
func shortCommand(cmd []byte) []byte {
	if cmd[0] != '*' { // an inline command: as a RESP array of its words
		words := bytes.Fields(cmd)
		out := appendCommand(nil, string(words[0]), nil)
		if len(cmd) <= BulkMaxErrorCommand {
			args := make([]string, 0, len(words)-1)
			for _, w := range words[1:] {
				args = append(args, string(w))
			}
			out = appendCommand(nil, string(words[0]), args)
		}
		return out
	}
	if len(cmd) <= BulkMaxErrorCommand {
		return append([]byte(nil), cmd...)
	}
	words := splitCommands(cmd)
	if len(words) == 0 || len(words[0].words) == 0 {
		return nil
	}
	return appendCommand(nil, words[0].words[0], nil)
}

// nextCommand finds the command at or after off in data (complete
// requests): blank inline lines and "*0" are skipped as the server skips
// them. An inline command is returned as a RESP array of its words.
func nextCommand(data []byte, off int) (start, end int, ok bool) {
	for off < len(data) {
		if data[off] != '*' {
			nl := bytes.IndexByte(data[off:], '\n')
			if nl < 0 {
				return 0, 0, false
			}
			line := bytes.TrimSpace(data[off : off+nl])
			if len(line) == 0 {
				off += nl + 1
				continue
			}
			return off, off + nl + 1, true
		}
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 2 {
			return 0, 0, false
		}
		count, err := strconv.Atoi(string(data[off+1 : off+nl-1]))
		if err != nil {
			return 0, 0, false
		}
		p := off + nl + 1
		if count <= 0 {
			off = p
			continue
		}
		for i := 0; i < count; i++ {
			if p >= len(data) || data[p] != '$' {
				return 0, 0, false
			}
			l := bytes.IndexByte(data[p:], '\n')
			if l < 2 {
				return 0, 0, false
			}
			size, err := strconv.Atoi(string(data[p+1 : p+l-1]))
			if err != nil || size < 0 {
				return 0, 0, false
			}
			p += l + 1 + size + 2
		}
		if p > len(data) {
			return 0, 0, false
		}
		return off, p, true
	}
	return 0, 0, false
}
