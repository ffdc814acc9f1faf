package engine

import (
	"bytes"
	"fmt"
)

// RESP2 replies, as the reader accepts them:
//
//	reply  := simple | error | int | bulk | array
//	simple := '+' text CRLF
//	error  := '-' text CRLF
//	int    := ':' [-]digits CRLF
//	bulk   := '$' len CRLF bytes[len] CRLF  |  '$-1' CRLF
//	array  := '*' count CRLF reply{count}   |  '*-1' CRLF
//
// Anything else is a protocol error: the connection cannot be trusted to be
// in step any more and is closed by the caller.
const (
	// MaxBulkLen matches Redis's default proto-max-bulk-len; a longer
	// declared bulk is a protocol error (it would also exceed memory bounds).
	MaxBulkLen = 512 << 20
	// MaxArrayLen bounds a declared array count. Elements are only stored
	// as they arrive, so this guards against nonsense, not against memory.
	MaxArrayLen = 1 << 32
	// MaxDepth bounds nesting; Redis replies nest a few levels at most.
	MaxDepth = 64
	// MaxLineLen bounds a simple/error/header line that has no CRLF yet.
	MaxLineLen = 1 << 20
)

// ProtocolError reports bytes that break the grammar above.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "protocol error: " + e.Msg }

func protoErr(format string, a ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, a...)}
}

// Reader is a resumable RESP2 scanner: feed it bytes, it appends entries to a
// Tape as elements complete and says when a whole top-level reply is done.
// All state lives here, so a reply split across many reads is scanned once.
type Reader struct {
	remaining [MaxDepth]int64 // elements still expected by each open array
	depth     int
}

// Reset forgets a half-scanned reply (after the connection was dropped).
func (r *Reader) Reset() { r.depth = 0 }

// Scan consumes complete elements from p, appending them to t. It returns the
// bytes consumed and done=true once a top-level reply is complete (it stops
// there). When it needs more input, need is the number of bytes, counted from
// p[n:], that must be buffered before the next element can be scanned.
func (r *Reader) Scan(p []byte, t *Tape) (n int, done bool, need int, err error) {
	for {
		q := p[n:]
		if len(q) == 0 {
			return n, false, 1, nil
		}
		nl := bytes.IndexByte(q, '\n')
		if nl < 0 {
			if len(q) > MaxLineLen {
				return n, false, 0, protoErr("line longer than %d bytes", MaxLineLen)
			}
			return n, false, len(q) + 1, nil
		}
		if nl > MaxLineLen {
			// Checked here too, not only while no LF is buffered, so a line
			// is judged the same whether it arrives whole or in pieces.
			return n, false, 0, protoErr("line longer than %d bytes", MaxLineLen)
		}
		if nl < 2 || q[nl-1] != '\r' { // a line holds at least its type byte and CR
			return n, false, 0, protoErr("line not terminated by CRLF")
		}
		line := q[1 : nl-1]
		switch kind := q[0]; kind {
		case '+', '-':
			t.PutBytes(kind, line)
			n += nl + 1
		case ':':
			v, ok := parseInt(line)
			if !ok {
				return n, false, 0, protoErr("bad integer %q", clip(line))
			}
			t.PutInt(KindInt, v)
			n += nl + 1
		case '$':
			l, ok := parseInt(line)
			if !ok || l < -1 || l > MaxBulkLen {
				return n, false, 0, protoErr("bad bulk length %q", clip(line))
			}
			if l == -1 {
				t.PutNil()
				n += nl + 1
				break
			}
			end := nl + 1 + int(l)
			if len(q) < end+2 {
				return n, false, end + 2, nil
			}
			if q[end] != '\r' || q[end+1] != '\n' {
				return n, false, 0, protoErr("bulk string not terminated by CRLF")
			}
			t.PutBytes(KindBulk, q[nl+1:end])
			n += end + 2
		case '*':
			c, ok := parseInt(line)
			if !ok || c < -1 || c > MaxArrayLen {
				return n, false, 0, protoErr("bad array length %q", clip(line))
			}
			n += nl + 1
			if c == -1 {
				t.PutNil()
				break
			}
			t.PutInt(KindArray, c)
			if c > 0 {
				if r.depth == MaxDepth {
					return n, false, 0, protoErr("arrays nested deeper than %d", MaxDepth)
				}
				r.remaining[r.depth] = c
				r.depth++
				continue // the array completes when its last element does
			}
		default:
			return n, false, 0, protoErr("unexpected reply type byte %q", kind)
		}
		// One element completed: close every array it was the last element of.
		for r.depth > 0 {
			r.remaining[r.depth-1]--
			if r.remaining[r.depth-1] > 0 {
				break
			}
			r.depth--
		}
		if r.depth == 0 {
			return n, true, 0, nil
		}
	}
}

// parseInt parses a RESP decimal integer, rejecting empty input, stray bytes
// and overflow.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<63-d)/10 { // v*10+d would pass 1<<63
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
