package engine

import "encoding/binary"

// The tape is the engine's description of parsed replies, written once by the
// RESP reader and walked once by the C bridge, which builds Python objects from
// it without scanning text again. Grammar (integers are little-endian int64;
// every entry but nil is its kind byte and 8 bytes, then a string's bytes):
//
//	entry    := bulk | simple | error | int | array | nil           (RESP2)
//	          | map | set | push | double | bool | bignum | verbatim (RESP3)
//	bulk     := '$' len bytes[len]
//	simple   := '+' len bytes[len]
//	error    := '-' len bytes[len]    (RESP2 error and RESP3 blob error '!')
//	int      := ':' value
//	array    := '*' count entry{count}
//	nil      := '_'                   (RESP2 "$-1" and "*-1", RESP3 null "_")
//	map      := '%' pairs (entry entry){pairs}     key, value, key, value ...
//	set      := '~' count entry{count}
//	push     := '>' count entry{count}  (a push nested in a reply; a top-level
//	                                     push frame is handed to OnPush as one
//	                                     such entry, never left in a reply tape)
//	double   := ',' bits              (IEEE-754 float64 bits; inf, -inf, nan too)
//	bool     := '#' 0|1
//	bignum   := '(' len digits[len]   (the reply's text: [+-]digits)
//	verbatim := '=' len bytes[len]    (with its "fmt:" prefix, e.g. "txt:hello")
//
// RESP3 attributes leave no entry. A request of n commands leaves n
// top-level entries back to back.
const (
	KindBulk     = '$'
	KindSimple   = '+'
	KindError    = '-'
	KindInt      = ':'
	KindArray    = '*'
	KindNil      = '_'
	KindMap      = '%'
	KindSet      = '~'
	KindPush     = '>'
	KindDouble   = ','
	KindBool     = '#'
	KindBigNum   = '('
	KindVerbatim = '='
)

// GrowFunc returns a buffer of capacity >= newCap holding old's bytes. The
// bridge supplies one that allocates C memory, so a finished tape can be
// handed to C without a copy; nil means ordinary Go memory.
type GrowFunc func(old []byte, newCap int) []byte

// Tape is an append-only buffer of entries.
type Tape struct {
	Buf  []byte
	Grow GrowFunc
}

const minTapeCap = 256

// Reserve extends the tape by n bytes and returns them for the caller to fill.
func (t *Tape) Reserve(n int) []byte {
	l := len(t.Buf)
	if cap(t.Buf)-l < n {
		newCap := 2 * cap(t.Buf)
		if newCap < l+n {
			newCap = l + n
		}
		if newCap < minTapeCap {
			newCap = minTapeCap
		}
		if t.Grow != nil {
			t.Buf = t.Grow(t.Buf, newCap)
		} else {
			nb := make([]byte, l, newCap)
			copy(nb, t.Buf)
			t.Buf = nb
		}
	}
	t.Buf = t.Buf[:l+n]
	return t.Buf[l:]
}

// PutInt appends an entry with an integer payload (int, array, or a length header).
func (t *Tape) PutInt(kind byte, v int64) {
	b := t.Reserve(9)
	b[0] = kind
	binary.LittleEndian.PutUint64(b[1:], uint64(v))
}

// PutBytes appends a string-like entry.
func (t *Tape) PutBytes(kind byte, p []byte) {
	b := t.Reserve(9 + len(p))
	b[0] = kind
	binary.LittleEndian.PutUint64(b[1:], uint64(len(p)))
	copy(b[9:], p)
}

// PutNil appends a nil entry.
func (t *Tape) PutNil() {
	b := t.Reserve(1)
	b[0] = KindNil
}

// Reset empties the tape but keeps its memory (Go tapes only).
func (t *Tape) Reset() { t.Buf = t.Buf[:0] }
