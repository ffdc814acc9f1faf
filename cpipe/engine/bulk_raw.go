package engine

import "fmt"

// rawCounter counts the commands in a stream of requests fed in chunks cut
// anywhere, exactly as the server splits them, so a caller of SendRaw
// (pre-encoded RESP, as for `redis-cli --pipe`) knows how many replies to
// expect. The grammar the server reads (networking.c):
//
//	request   := multibulk | inline
//	multibulk := '*' count CRLF ('$' len CRLF bytes[len] CRLF){count}
//	             (count <= 0: no command, no reply)
//	inline    := bytes-without-LF LF   (blank or all spaces: no command, no reply)
//
// All state lives in the struct, so a command split across two chunks is
// counted once, in the chunk that completes it.
type rawCounter struct {
	state    uint8
	num      int64 // the header number being read
	neg      bool  // it began with '-'
	digits   int   // digits read so far of it
	argsLeft int64 // bulk arguments still expected by the open multibulk
	skip     int64 // payload bytes (with its CRLF) still expected
	filled   bool  // the inline line being read has a non-blank byte
	header   uint8 // rawCountLine or rawLenLine: which header rawHeaderLF ends
}

const (
	rawStart      = iota // at a request boundary
	rawCountLine         // in "*<count>\r\n", after '*'
	rawArgStart          // expecting '$'
	rawLenLine           // in "$<len>\r\n", after '$'
	rawPayload           // in an argument's bytes and its CRLF
	rawInline            // in an inline request's line
	rawHeaderLF          // a header's CR was read; its LF must follow
	rawMaxArgs    = 1 << 31
	rawMaxInline  = 64 << 10 // the server's PROTO_INLINE_MAX_SIZE
	rawHeaderMaxD = 19
)

// RawError is bytes that are not requests the server would accept; nothing
// of the chunk holding them was sent.
type RawError struct{ Msg string }

func (e *RawError) Error() string { return e.Msg }

// feed consumes p and returns the number of commands it completes and
// head, the bytes at p's start that end a command begun in an earlier
// chunk (0 when p starts at a command boundary). On error the counter is
// unchanged: feed works on a copy and keeps it only when p is valid.
func (rc *rawCounter) feed(p []byte) (n int, head int, err error) {
	c := *rc
	head = -1
	if c.state == rawStart {
		head = 0
	}
	var inlineLen int
	for i := 0; i < len(p); {
		b := p[i]
		switch c.state {
		case rawStart:
			if b == '*' {
				if k := wholeCommand(p[i:]); k > 0 {
					// The common case, a whole well-formed command in the
					// chunk: counted without the byte-by-byte machine.
					n++
					i += k
					if head < 0 {
						head = i
					}
					continue
				}
				c.state, c.num, c.neg, c.digits = rawCountLine, 0, false, 0
				i++
				continue
			}
			c.state, c.filled, inlineLen = rawInline, false, 0
			continue
		case rawInline:
			for i < len(p) && p[i] != '\n' {
				if p[i] != ' ' && p[i] != '\r' && p[i] != '\t' {
					c.filled = true
				}
				i++
				inlineLen++
			}
			if inlineLen > rawMaxInline {
				return 0, 0, &RawError{fmt.Sprintf("an inline request longer than %d bytes (the server refuses it)", rawMaxInline)}
			}
			if i == len(p) {
				continue
			}
			i++ // the LF
			if c.filled {
				n++
			}
			c.state = rawStart
		case rawArgStart:
			if b != '$' {
				return 0, 0, &RawError{fmt.Sprintf("expected '$' at byte %d of the chunk, found %q", i, b)}
			}
			c.state, c.num, c.neg, c.digits = rawLenLine, 0, false, 0
			i++
		case rawCountLine, rawLenLine:
			switch {
			case b >= '0' && b <= '9':
				if c.digits >= rawHeaderMaxD {
					return 0, 0, &RawError{"a RESP length with too many digits"}
				}
				c.num = c.num*10 + int64(b-'0')
				c.digits++
			case b == '-' && c.digits == 0 && !c.neg && c.state == rawCountLine:
				c.neg = true
			case b == '\r' && (c.digits > 0):
				c.header, c.state = c.state, rawHeaderLF
			default:
				return 0, 0, &RawError{fmt.Sprintf("bad RESP header byte %q at byte %d of the chunk", b, i)}
			}
			i++
		case rawHeaderLF:
			if b != '\n' {
				return 0, 0, &RawError{fmt.Sprintf("a RESP header not ended by CRLF at byte %d of the chunk", i)}
			}
			i++
			if c.header == rawCountLine {
				switch {
				case c.neg || c.num == 0:
					c.state = rawStart // "*0" and "*-1": the server skips them
				case c.num > rawMaxArgs:
					return 0, 0, &RawError{fmt.Sprintf("a command of %d arguments (the server refuses it)", c.num)}
				default:
					c.argsLeft, c.state = c.num, rawArgStart
				}
				continue
			}
			if c.num > MaxBulkLen {
				return 0, 0, &RawError{fmt.Sprintf("an argument of %d bytes (the server refuses it)", c.num)}
			}
			c.skip, c.state = c.num+2, rawPayload
		case rawPayload:
			avail := int64(len(p) - i)
			if avail < c.skip {
				if err := checkTail(p[i:], c.skip); err != nil {
					return 0, 0, err
				}
				c.skip -= avail
				i = len(p)
				continue
			}
			if err := checkTail(p[i:i+int(c.skip)], c.skip); err != nil {
				return 0, 0, err
			}
			i += int(c.skip)
			c.skip = 0
			c.argsLeft--
			if c.argsLeft > 0 {
				c.state = rawArgStart
				continue
			}
			n++
			c.state = rawStart
		}
		if head < 0 && c.state == rawStart {
			head = i
		}
	}
	if head < 0 {
		head = len(p)
	}
	*rc = c
	return n, head, nil
}

// wholeCommand returns the length of the multibulk command at the start of
// q if all of it is in q and it is one the byte-by-byte machine in feed
// would count without complaint (a positive count, every argument's length
// and CRLF in place); else 0, and feed reads it the slow way, which also
// finds and words any error.
func wholeCommand(q []byte) int {
	count, i := headerNumber(q, 1)
	if count <= 0 || count > rawMaxArgs {
		return 0
	}
	for ; count > 0; count-- {
		if i >= len(q) || q[i] != '$' {
			return 0
		}
		var size int64
		if size, i = headerNumber(q, i+1); size < 0 || size > MaxBulkLen || int64(len(q)-i) < size+2 {
			return 0
		}
		i += int(size)
		if q[i] != '\r' || q[i+1] != '\n' {
			return 0
		}
		i += 2
	}
	return i
}

// headerNumber reads the decimal digits at q[i:] up to their CRLF: the
// number and the index past the LF, or -1 if they are not 1 to
// rawHeaderMaxD digits then CRLF, all within q.
func headerNumber(q []byte, i int) (int64, int) {
	var v int64
	start := i
	for i < len(q) && q[i] >= '0' && q[i] <= '9' {
		if i-start >= rawHeaderMaxD {
			return -1, i
		}
		v = v*10 + int64(q[i]-'0')
		i++
	}
	if i == start || i+1 >= len(q) || q[i] != '\r' || q[i+1] != '\n' {
		return -1, i
	}
	return v, i + 2
}

// checkTail checks the CRLF that ends an argument, for the part of it in
// q (the last `left` bytes of the argument are q[:min(len(q), left)]).
func checkTail(q []byte, left int64) error {
	if k := left - 2; k >= 0 && k < int64(len(q)) && q[k] != '\r' {
		return errNoCRLF
	}
	if k := left - 1; k >= 0 && k < int64(len(q)) && q[k] != '\n' {
		return errNoCRLF
	}
	return nil
}

var errNoCRLF = &RawError{"an argument not ended by CRLF where its length says"}

// complete reports whether the stream so far ends at a command boundary.
func (rc *rawCounter) complete() bool { return rc.state == rawStart }
