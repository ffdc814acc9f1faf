package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Replies, as the reader accepts them: RESP2, and the RESP3 types a server
// sends after HELLO 3 (the reader takes both on any connection, as hiredis does):
//
//	reply     := attribute* element
//	element   := simple | error | int | bulk | array                   (RESP2)
//	           | null | bool | double | bignum | blobError | verbatim
//	           | map | set | push                                       (RESP3)
//	simple    := '+' text CRLF
//	error     := '-' text CRLF
//	int       := ':' [-]digits CRLF
//	bulk      := '$' len CRLF bytes[len] CRLF  |  '$-1' CRLF
//	array     := '*' count CRLF reply{count}   |  '*-1' CRLF
//	null      := '_' CRLF
//	bool      := '#' ('t' | 'f') CRLF
//	double    := ',' ( [+-]decimal[e[+-]digits] | [+-]inf | nan ) CRLF
//	bignum    := '(' [+-]digits CRLF
//	blobError := '!' len CRLF bytes[len] CRLF
//	verbatim  := '=' len CRLF fmt[3] ':' bytes[len-4] CRLF
//	map       := '%' count CRLF (reply reply){count}
//	set       := '~' count CRLF reply{count}
//	push      := '>' count CRLF reply{count}
//	attribute := '|' count CRLF (reply reply){count}
//
// What the tape gets (tape.go): a blob error is an error entry; an
// attribute (metadata about the reply that follows, which no Redis command
// sends unasked) is dropped and the reply it precedes kept, which is what
// RESP3 tells clients that do not use attributes to do; a top-level push
// is not a reply at all: it goes to OnPush, never into the caller's tape.
// A push nested in another aggregate (which RESP3 does not allow, but
// hiredis reads) is kept in place as a push entry.
//
// Anything else is a protocol error: the connection cannot be trusted to be
// in step any more and is closed by the caller.
const (
	// MaxBulkLen matches Redis's default proto-max-bulk-len; a longer
	// declared bulk is a protocol error (it would also exceed memory bounds).
	// It bounds blob errors and verbatim strings too.
	MaxBulkLen = 512 << 20
	// MaxArrayLen bounds a declared aggregate count (elements of an array,
	// set or push; pairs of a map or attribute). Elements are only stored
	// as they arrive, so this guards against nonsense, not against memory.
	MaxArrayLen = 1 << 32
	// MaxDepth bounds nesting (attributes count as a level); Redis replies
	// nest a few levels at most.
	MaxDepth = 64
	// MaxLineLen bounds a simple/error/header line that has no CRLF yet
	// (a double's or big number's text too).
	MaxLineLen = 1 << 20
)

// ProtocolError reports bytes that break the grammar above.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "protocol error: " + e.Msg }

func protoErr(format string, a ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, a...)}
}

// Reader is a resumable RESP2/RESP3 scanner: feed it bytes, it appends
// entries to a Tape as elements complete and says when a whole top-level
// reply is done. All state lives here, so a reply split across many reads
// is scanned once.
type Reader struct {
	remaining [MaxDepth]int64 // elements still expected by each open aggregate
	attr      [MaxDepth]bool  // the aggregate open at this level is an attribute
	depth     int
	// skipFrom is 1 + the level of the outermost open attribute (0: none);
	// skipMark the tape length when it began: the attribute's entries are
	// cut off there once it closes.
	skipFrom, skipMark int
	// inPush: a top-level push frame is being scanned, into push.
	inPush bool
	push   Tape
	// OnPush receives every complete top-level push frame: its tape (one
	// KindPush entry), a Go slice the callee owns. It is called from Scan,
	// by whoever scans. Nil: the frame is discarded and counted in Dropped.
	OnPush  func(frame []byte)
	Dropped int64
}

// Reset forgets a half-scanned reply (after the connection was dropped).
func (r *Reader) Reset() {
	clear(r.attr[:r.depth])
	r.depth, r.skipFrom, r.skipMark = 0, 0, 0
	r.inPush = false
	r.push.Buf = nil
}

// InPush reports whether a push frame is half scanned: the bytes that
// follow belong to it, not to any request.
func (r *Reader) InPush() bool { return r.inPush }

// Scan consumes complete elements from p, appending them to t. It returns the
// bytes consumed and done=true once a top-level reply is complete (it stops
// there). When it needs more input, need is the number of bytes, counted from
// p[n:], that must be buffered before the next element can be scanned. It
// also stops right after a top-level push frame, which it hands to OnPush:
// then done is false and need 0 ("call again").
func (r *Reader) Scan(p []byte, t *Tape) (n int, done bool, need int, err error) {
next:
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
		kind := q[0]
		if r.depth == 0 && kind == '>' {
			r.inPush = true
		}
		tape := t
		if r.inPush {
			tape = &r.push
		}
		switch kind {
		case '+', '-':
			tape.PutBytes(kind, line)
			n += nl + 1
		case ':':
			v, ok := parseInt(line)
			if !ok {
				return n, false, 0, protoErr("bad integer %q", clip(line))
			}
			tape.PutInt(KindInt, v)
			n += nl + 1
		case '$': // the common case first, on its own
			l, ok := parseInt(line)
			if !ok || l < -1 || l > MaxBulkLen {
				return n, false, 0, protoErr("bad bulk length %q", clip(line))
			}
			if l == -1 {
				tape.PutNil()
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
			tape.PutBytes(KindBulk, q[nl+1:end])
			n += end + 2
		case '!', '=':
			l, ok := parseInt(line)
			if !ok || l < 0 || l > MaxBulkLen {
				return n, false, 0, protoErr("bad %s length %q", bulkName(kind), clip(line))
			}
			end := nl + 1 + int(l)
			if len(q) < end+2 {
				return n, false, end + 2, nil
			}
			if q[end] != '\r' || q[end+1] != '\n' {
				return n, false, 0, protoErr("%s not terminated by CRLF", bulkName(kind))
			}
			body := q[nl+1 : end]
			if kind == '!' {
				tape.PutBytes(KindError, body)
			} else {
				if len(body) < 4 || body[3] != ':' {
					return n, false, 0, protoErr("verbatim string without a format prefix: %q", clip(body))
				}
				tape.PutBytes(KindVerbatim, body)
			}
			n += end + 2
		case '_':
			if len(line) != 0 {
				return n, false, 0, protoErr("bad null %q", clip(line))
			}
			tape.PutNil()
			n += nl + 1
		case '#':
			if len(line) != 1 || (line[0] != 't' && line[0] != 'f') {
				return n, false, 0, protoErr("bad boolean %q", clip(line))
			}
			v := int64(0)
			if line[0] == 't' {
				v = 1
			}
			tape.PutInt(KindBool, v)
			n += nl + 1
		case ',':
			v, ok := parseDouble(line)
			if !ok {
				return n, false, 0, protoErr("bad double %q", clip(line))
			}
			tape.PutInt(KindDouble, int64(math.Float64bits(v)))
			n += nl + 1
		case '(':
			if !isBigNumber(line) {
				return n, false, 0, protoErr("bad big number %q", clip(line))
			}
			tape.PutBytes(KindBigNum, line)
			n += nl + 1
		case '*', '%', '~', '>', '|':
			c, ok := parseInt(line)
			if !ok || c < -1 || c > MaxArrayLen || (c == -1 && kind != '*') {
				return n, false, 0, protoErr("bad %s length %q", aggregateName(kind), clip(line))
			}
			n += nl + 1
			if c == -1 {
				tape.PutNil()
				break
			}
			if kind == '|' && c == 0 {
				continue next // an empty attribute: nothing to drop, no element
			}
			if c > 0 && r.depth == MaxDepth {
				return n, false, 0, protoErr("aggregates nested deeper than %d", MaxDepth)
			}
			count := c
			if kind == '%' || kind == '|' {
				count = 2 * c // a key and a value per pair
			}
			if kind == '|' {
				if r.skipFrom == 0 {
					r.skipFrom, r.skipMark = r.depth+1, len(tape.Buf)
				}
				r.attr[r.depth] = true
			} else {
				tape.PutInt(kind, c)
			}
			if c > 0 {
				r.remaining[r.depth] = count
				r.depth++
				continue next // the aggregate completes when its last element does
			}
		default:
			return n, false, 0, protoErr("unexpected reply type byte %q", kind)
		}
		// One element completed: close every aggregate it was the last
		// element of. An attribute that closes is no element of its parent.
		for r.depth > 0 {
			r.remaining[r.depth-1]--
			if r.remaining[r.depth-1] > 0 {
				continue next
			}
			r.depth--
			if r.attr[r.depth] {
				r.attr[r.depth] = false
				if r.skipFrom == r.depth+1 {
					tape.Buf = tape.Buf[:r.skipMark]
					r.skipFrom = 0
				}
				continue next
			}
		}
		if r.inPush {
			r.inPush = false
			frame := r.push.Buf
			r.push.Buf = nil
			if r.OnPush != nil {
				r.OnPush(frame)
			} else {
				r.Dropped++
			}
			return n, false, 0, nil
		}
		return n, true, 0, nil
	}
}

func bulkName(kind byte) string {
	switch kind {
	case '!':
		return "blob error"
	case '=':
		return "verbatim string"
	}
	return "bulk string"
}

func aggregateName(kind byte) string {
	switch kind {
	case '%':
		return "map"
	case '~':
		return "set"
	case '>':
		return "push"
	case '|':
		return "attribute"
	}
	return "array"
}

// parseDouble parses a RESP3 double as Python's float() would read it:
// decimal notation, or inf/-inf/nan (any case). Go's hexadecimal and
// underscore forms are refused: they are no RESP.
func parseDouble(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) > 400 {
		return 0, false
	}
	switch {
	case bytes.EqualFold(b, []byte("inf")), bytes.EqualFold(b, []byte("+inf")):
		return math.Inf(1), true
	case bytes.EqualFold(b, []byte("-inf")):
		return math.Inf(-1), true
	case bytes.EqualFold(b, []byte("nan")):
		return math.NaN(), true
	}
	for _, c := range b {
		if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) { // out of range is ±inf, as in Python
		return 0, false
	}
	return v, true
}

// isBigNumber: an optional sign, then at least one digit, nothing else.
func isBigNumber(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
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
