package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// scanResult is what feeding a byte stream to a fresh Reader produced.
type scanResult struct {
	replies  [][]byte // tape of each completed top-level reply
	pushes   [][]byte // tape of each top-level push frame, handed to OnPush
	partial  []byte   // tape entries of an unfinished reply
	consumed int      // input bytes consumed
	err      error
}

// feed simulates the connection's read loop: the bytes arrive in chunks cut
// at the given offsets (increasing, inside the input), accumulate in a
// buffer, and Scan is called on the unconsumed part after every chunk until
// it needs more. Every "need more" answer is checked against the rest of
// the input: need must ask for more than is buffered, and scanning fewer
// than need bytes must not make progress. A panic is returned as an error.
func feed(t testing.TB, input []byte, cuts []int) (res scanResult) {
	defer func() {
		if p := recover(); p != nil {
			res.err = fmt.Errorf("PANIC: %v", p)
		}
	}()
	var r Reader
	r.OnPush = func(frame []byte) { res.pushes = append(res.pushes, frame) }
	var tape Tape
	var buf []byte
	rr, start, prev := 0, 0, 0
	ends := append(append([]int(nil), cuts...), len(input))
	for _, end := range ends {
		buf = append(buf, input[prev:end]...)
		prev = end
		for {
			n, done, need, err := r.Scan(buf[rr:], &tape)
			if n < 0 || n > len(buf)-rr {
				t.Fatalf("Scan consumed %d of %d bytes", n, len(buf)-rr)
			}
			rr += n
			res.consumed = rr
			if err != nil {
				res.err = err
				return res
			}
			if done {
				res.replies = append(res.replies, append([]byte(nil), tape.Buf[start:]...))
				start = len(tape.Buf)
				continue
			}
			if need == 0 { // a push frame went to OnPush: call again
				if len(tape.Buf) != start {
					t.Fatalf("input %q: a push frame left %d bytes in the reply tape", clipS(input), len(tape.Buf)-start)
				}
				continue
			}
			avail := len(buf) - rr
			if need <= avail {
				t.Fatalf("input %q cut at %v: need=%d with %d bytes buffered (must ask for more)", clipS(input), cuts, need, avail)
			}
			if rest := input[rr:]; need-1 <= len(rest) && need-1 > avail {
				r2, t2 := r, Tape{Buf: append([]byte(nil), tape.Buf...)}
				if n2, done2, _, err2 := r2.Scan(rest[:need-1], &t2); n2 != 0 || done2 || err2 != nil {
					t.Fatalf("input %q: need=%d, but %d bytes already gave n=%d done=%v err=%v", clipS(input), need, need-1, n2, done2, err2)
				}
			}
			break
		}
	}
	res.partial = append([]byte(nil), tape.Buf[start:]...)
	return res
}

func clipS(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

func sameResult(a, b scanResult) bool {
	if (a.err == nil) != (b.err == nil) {
		return false
	}
	if len(a.replies) != len(b.replies) || len(a.pushes) != len(b.pushes) {
		return false
	}
	for i := range a.pushes {
		if !bytes.Equal(a.pushes[i], b.pushes[i]) {
			return false
		}
	}
	for i := range a.replies {
		if !bytes.Equal(a.replies[i], b.replies[i]) {
			return false
		}
	}
	if a.err == nil {
		return bytes.Equal(a.partial, b.partial) && a.consumed == b.consumed
	}
	return true
}

func decodeReplies(t testing.TB, rs [][]byte) []any {
	t.Helper()
	var out []any
	for _, r := range rs {
		v := mustDecode(t, r)
		if len(v) != 1 {
			t.Fatalf("one reply decoded to %d entries", len(v))
		}
		out = append(out, v[0])
	}
	return out
}

// splitsOf yields the cut lists a test feeds: byte by byte, every single
// split point, and some random multi-way splits. Long inputs get only the
// random ones.
func splitsOf(n int, rnd *rand.Rand) [][]int {
	var out [][]int
	if n <= 4096 {
		all := make([]int, 0, n)
		for i := 1; i < n; i++ {
			all = append(all, i)
		}
		out = append(out, all)
		for i := 1; i < n; i++ {
			out = append(out, []int{i})
		}
	}
	for k := 0; k < 20 && n > 1; k++ {
		out = append(out, randomCuts(n, rnd))
	}
	return out
}

func randomCuts(n int, rnd *rand.Rand) []int {
	var cuts []int
	for pos := 0; ; {
		step := 1 + rnd.Intn(1+rnd.Intn(64))
		if rnd.Intn(8) == 0 {
			step = 1 + rnd.Intn(n)
		}
		pos += step
		if pos >= n {
			return cuts
		}
		cuts = append(cuts, pos)
	}
}

func allBytes() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}

func nested(depth int, leaf string) string {
	return strings.Repeat("*1\r\n", depth) + leaf
}

func nestedValue(depth int, leaf any) any {
	v := leaf
	for i := 0; i < depth; i++ {
		v = []any{v}
	}
	return v
}

func bulkOf(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

var validReplies = []struct {
	name string
	in   string
	want []any // one value per top-level reply
}{
	{"simple", "+OK\r\n", []any{simpleV("OK")}},
	{"empty simple", "+\r\n", []any{simpleV("")}},
	{"simple with spaces", "+hello world\r\n", []any{simpleV("hello world")}},
	{"error", "-ERR unknown command 'FOO'\r\n", []any{errV("ERR unknown command 'FOO'")}},
	{"empty error", "-\r\n", []any{errV("")}},
	{"int zero", ":0\r\n", []any{int64(0)}},
	{"int", ":1000\r\n", []any{int64(1000)}},
	{"negative int", ":-42\r\n", []any{int64(-42)}},
	{"max int64", ":9223372036854775807\r\n", []any{int64(math.MaxInt64)}},
	{"min int64", ":-9223372036854775808\r\n", []any{int64(math.MinInt64)}},
	{"max int64 - 1", ":9223372036854775806\r\n", []any{int64(math.MaxInt64 - 1)}},
	{"min int64 + 1", ":-9223372036854775807\r\n", []any{int64(math.MinInt64 + 1)}},
	{"bulk", "$5\r\nhello\r\n", []any{bulkV("hello")}},
	{"empty bulk", "$0\r\n\r\n", []any{bulkV("")}},
	{"nil bulk", "$-1\r\n", []any{nil}},
	{"nil array", "*-1\r\n", []any{nil}},
	{"empty array", "*0\r\n", []any{[]any{}}},
	{"bulk with CRLF inside", "$6\r\na\r\nb\r\n\r\n", []any{bulkV("a\r\nb\r\n")}},
	{"bulk of CRLFs", "$4\r\n\r\n\r\n\r\n", []any{bulkV("\r\n\r\n")}},
	{"bulk that looks like replies", bulkOf("*2\r\n$-1\r\n:1\r\n-ERR\r\n"), []any{bulkV("*2\r\n$-1\r\n:1\r\n-ERR\r\n")}},
	{"binary bulk, all 256 byte values", bulkOf(allBytes()), []any{bulkV(allBytes())}},
	{"binary bulk, reversed", bulkOf(reverse(allBytes())), []any{bulkV(reverse(allBytes()))}},
	{"array", "*3\r\n$3\r\nfoo\r\n:1\r\n+OK\r\n", []any{[]any{bulkV("foo"), int64(1), simpleV("OK")}}},
	{"array with nils and empties", "*4\r\n$-1\r\n*-1\r\n$0\r\n\r\n*0\r\n", []any{[]any{nil, nil, bulkV(""), []any{}}}},
	{"array with error element", "*2\r\n-ERR a\r\n+b\r\n", []any{[]any{errV("ERR a"), simpleV("b")}}},
	{"nested arrays", "*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n*0\r\n", []any{[]any{[]any{int64(1), int64(2)}, []any{[]any{}}}}},
	{"last element closes several levels", "*2\r\n:0\r\n*1\r\n*1\r\n*1\r\n:5\r\n", []any{[]any{int64(0), nestedValue(3, int64(5))}}},
	{"array ends with empty array", "*2\r\n:1\r\n*0\r\n", []any{[]any{int64(1), []any{}}}},
	{"array ends with nil array", "*2\r\n:1\r\n*-1\r\n", []any{[]any{int64(1), nil}}},
	{"exec-like", "*3\r\n+OK\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n:-7\r\n", []any{[]any{simpleV("OK"), []any{bulkV("a"), bulkV("b")}, int64(-7)}}},
	{"several replies back to back", "+OK\r\n:1\r\n$1\r\nx\r\n$-1\r\n*1\r\n:2\r\n-E\r\n",
		[]any{simpleV("OK"), int64(1), bulkV("x"), nil, []any{int64(2)}, errV("E")}},
	{"nested to MaxDepth", nested(MaxDepth, ":1\r\n"), []any{nestedValue(MaxDepth, int64(1))}},
	{"nested to MaxDepth, then more", nested(MaxDepth, "$-1\r\n") + nested(MaxDepth, "*0\r\n"),
		[]any{nestedValue(MaxDepth, nil), nestedValue(MaxDepth, []any{})}},
	{"empty array at MaxDepth+1", nested(MaxDepth, "*0\r\n"), []any{nestedValue(MaxDepth, []any{})}},
	{"array of 100 bulks", "*100\r\n" + strings.Repeat("$3\r\nabc\r\n", 100), []any{repeatValue(bulkV("abc"), 100)}},
	{"big bulk", bulkOf(strings.Repeat("0123456789", 1000)), []any{bulkV(strings.Repeat("0123456789", 1000))}},
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

func repeatValue(v any, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestReaderValid(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	for _, tc := range validReplies {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			whole := feed(t, in, nil)
			if whole.err != nil {
				t.Fatalf("whole: %v", whole.err)
			}
			if whole.consumed != len(in) || len(whole.partial) != 0 {
				t.Fatalf("whole: consumed %d of %d, %d partial tape bytes", whole.consumed, len(in), len(whole.partial))
			}
			if got := decodeReplies(t, whole.replies); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("whole:\n got %#v\nwant %#v", got, tc.want)
			}
			for _, cuts := range splitsOf(len(in), rnd) {
				split := feed(t, in, cuts)
				if !sameResult(whole, split) {
					t.Fatalf("cut at %v: got %d replies err=%v, whole gave %d", clipCuts(cuts), len(split.replies), split.err, len(whole.replies))
				}
			}
		})
	}
}

func clipCuts(c []int) []int {
	if len(c) > 10 {
		return c[:10]
	}
	return c
}

// A reply is complete exactly when its last byte arrives.
func TestReaderDoneOnlyAtLastByte(t *testing.T) {
	for _, tc := range validReplies {
		if len(tc.want) != 1 || len(tc.in) > 4096 {
			continue
		}
		for l := 0; l < len(tc.in); l++ {
			var r Reader
			var tape Tape
			n, done, _, err := r.Scan([]byte(tc.in[:l]), &tape)
			if done || err != nil || n > l {
				t.Fatalf("%s: prefix of %d/%d bytes gave n=%d done=%v err=%v", tc.name, l, len(tc.in), n, done, err)
			}
		}
	}
}

// Scan stops at the end of one top-level reply and leaves the rest.
func TestReaderStopsAfterOneReply(t *testing.T) {
	in := []byte("*2\r\n:1\r\n:2\r\n+next\r\n")
	var r Reader
	var tape Tape
	n, done, _, err := r.Scan(in, &tape)
	if err != nil || !done || n != 12 {
		t.Fatalf("got n=%d done=%v err=%v, want 12 true nil", n, done, err)
	}
	n, done, _, err = r.Scan(in[n:], &tape)
	if err != nil || !done || n != 7 {
		t.Fatalf("second reply: n=%d done=%v err=%v", n, done, err)
	}
	want := []any{[]any{int64(1), int64(2)}, simpleV("next")}
	if got := mustDecode(t, tape.Buf); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
}

func TestReaderNeed(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int // consumed
		need int // counted from in[n:]
	}{
		{"", 0, 1},
		{"+", 0, 2},
		{"+OK", 0, 4},
		{"+OK\r", 0, 5},
		{":12", 0, 4},
		{"$", 0, 2},
		{"$5\r\n", 0, 11},
		{"$5\r\nhe", 0, 11},
		{"$5\r\nhello", 0, 11},
		{"$5\r\nhello\r", 0, 11},
		{"$0\r\n", 0, 6},
		{"$0\r\n\r", 0, 6},
		{"*2\r\n", 4, 1},
		{"*2\r\n$1\r\na\r\n", 11, 1},
		{"*2\r\n$1\r\na\r\n$3", 11, 3},
		{"*2\r\n$1\r\na\r\n$3\r\nb", 11, 9},
		{"*1\r\n*1\r\n$10\r\n", 8, 17},
		{"$536870912\r\n", 0, 12 + MaxBulkLen + 2},
	} {
		var r Reader
		var tape Tape
		n, done, need, err := r.Scan([]byte(tc.in), &tape)
		if err != nil || done || n != tc.n || need != tc.need {
			t.Errorf("Scan(%q) = n %d, done %v, need %d, err %v; want n %d, need %d", tc.in, n, done, need, err, tc.n, tc.need)
		}
	}
}

// With exactly the bytes a bulk string asked for, it completes.
func TestReaderNeedIsEnoughForBulk(t *testing.T) {
	for _, body := range []string{"", "x", "hello", allBytes(), strings.Repeat("\r\n", 100)} {
		in := []byte(bulkOf(body) + "+tail\r\n")
		var r Reader
		var tape Tape
		for l := 1; l < len(bulkOf(body)); l++ {
			r2, t2 := r, tape
			_, done, need, err := r2.Scan(in[:l], &t2)
			if err != nil || done {
				t.Fatalf("prefix %d: done=%v err=%v", l, done, err)
			}
			if need > len(bulkOf(body)) {
				t.Fatalf("prefix %d of %d-byte bulk: need %d", l, len(bulkOf(body)), need)
			}
			if strings.Contains(string(in[:l]), "\n") { // header known: need is exact
				if need != len(bulkOf(body)) {
					t.Fatalf("prefix %d: need %d, want %d", l, need, len(bulkOf(body)))
				}
				r3, t3 := r, Tape{}
				if n, done, _, err := r3.Scan(in[:need], &t3); !done || err != nil || n != need {
					t.Fatalf("with need=%d bytes: n=%d done=%v err=%v", need, n, done, err)
				}
			}
		}
	}
}

var malformedReplies = []struct {
	name string
	in   string
}{
	{"bad type byte", "?\r\n"},
	{"bad type byte with text", "hello\r\n"},
	{"LF without CR", "+OK\n"},
	{"bare LF", "\n"},
	{"bare CRLF (no type byte)", "\r\n"},
	{"CRLF after a reply", "+OK\r\n\r\n"},
	{"CR then byte then LF", "+OK\rX\n"},
	{"empty int", ":\r\n"},
	{"lone minus int", ":-\r\n"},
	{"int with letters", ":12a\r\n"},
	{"int with space", ": 1\r\n"},
	{"int with plus", ":+1\r\n"},
	{"float as int", ":1.5\r\n"},
	{"int over max int64", ":9223372036854775808\r\n"},
	{"int under min int64", ":-9223372036854775809\r\n"},
	{"int over uint64", ":18446744073709551616\r\n"},
	{"int of 21 digits", ":123456789012345678901\r\n"},
	{"int of 30 digits", ":-123456789012345678901234567890\r\n"},
	{"bulk length -2", "$-2\r\n"},
	{"bulk length -10", "$-10\r\n"},
	{"bulk length min int64", "$-9223372036854775808\r\n"},
	{"empty bulk length", "$\r\n"},
	{"bulk length not a number", "$x\r\n"},
	{"bulk length trailing junk", "$1x\r\n"},
	{"bulk length overflows", "$99999999999999999999\r\n"},
	{"bulk over MaxBulkLen", "$" + strconv.Itoa(MaxBulkLen+1) + "\r\n"},
	{"bulk longer than declared", "$3\r\nabcd\r\n"},
	{"bulk shorter than declared", "$5\r\nabc\r\n+OK\r\n"},
	{"bulk ended by LF CR", "$3\r\nabc\n\r"},
	{"bulk ended by junk", "$3\r\nabcXY"},
	{"empty bulk ended by junk", "$0\r\nXY"},
	{"bulk ended by CR only", "$1\r\na\rX"},
	{"array length -2", "*-2\r\n"},
	{"empty array length", "*\r\n"},
	{"array length not a number", "*abc\r\n"},
	{"array over MaxArrayLen", "*" + strconv.FormatInt(MaxArrayLen+1, 10) + "\r\n"},
	{"array length overflows", "*99999999999999999999\r\n"},
	{"bad element in array", "*2\r\n:1\r\n?\r\n"},
	{"bad bulk length in array", "*1\r\n$-5\r\n"},
	{"bad int deep in arrays", "*1\r\n*2\r\n:1\r\n*1\r\n:x\r\n"},
	{"depth over MaxDepth", nested(MaxDepth+1, ":1\r\n")},
	{"depth far over MaxDepth", nested(3*MaxDepth, ":1\r\n")},
	{"depth over MaxDepth, wide", strings.Repeat("*2\r\n", MaxDepth+1) + ":1\r\n"},
	{"good reply then garbage", "+OK\r\n:1\r\n!x\r\n"},
}

func isProtocolError(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe)
}

func TestReaderMalformed(t *testing.T) {
	rnd := rand.New(rand.NewSource(2))
	for _, tc := range malformedReplies {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			whole := feed(t, in, nil)
			if !isProtocolError(whole.err) {
				t.Fatalf("Scan(%q): got err %v (%d replies), want *ProtocolError", clipS(in), whole.err, len(whole.replies))
			}
			if whole.err.Error() == "" || !strings.HasPrefix(whole.err.Error(), "protocol error: ") {
				t.Fatalf("error text %q", whole.err.Error())
			}
			for _, cuts := range splitsOf(len(in), rnd) {
				split := feed(t, in, cuts)
				if !isProtocolError(split.err) || !sameResult(whole, split) {
					t.Fatalf("cut at %v: err %v, %d replies; whole gave %d replies", clipCuts(cuts), split.err, len(split.replies), len(whole.replies))
				}
			}
		})
	}
}

func TestReaderLimits(t *testing.T) {
	scan := func(in []byte) (n int, done bool, need int, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("PANIC: %v", p)
			}
		}()
		var r Reader
		var tape Tape
		return r.Scan(in, &tape)
	}
	t.Run("line of MaxLineLen bytes without CRLF waits", func(t *testing.T) {
		in := append([]byte{'+'}, bytes.Repeat([]byte{'a'}, MaxLineLen-1)...)
		if n, done, need, err := scan(in); err != nil || done || n != 0 || need != MaxLineLen+1 {
			t.Fatalf("n=%d done=%v need=%d err=%v", n, done, need, err)
		}
	})
	t.Run("line over MaxLineLen without CRLF", func(t *testing.T) {
		for _, kind := range []byte("+-:$*") {
			in := append([]byte{kind}, bytes.Repeat([]byte{'1'}, MaxLineLen)...)
			if _, _, _, err := scan(in); !isProtocolError(err) {
				t.Fatalf("%c: err %v, want *ProtocolError", kind, err)
			}
		}
	})
	t.Run("garbage over MaxLineLen", func(t *testing.T) {
		if _, _, _, err := scan(bytes.Repeat([]byte{'?'}, MaxLineLen+1)); !isProtocolError(err) {
			t.Fatalf("err %v, want *ProtocolError", err)
		}
	})
	t.Run("bulk of MaxBulkLen is accepted", func(t *testing.T) {
		in := []byte("$" + strconv.Itoa(MaxBulkLen) + "\r\n")
		if _, done, need, err := scan(in); err != nil || done || need != len(in)+MaxBulkLen+2 {
			t.Fatalf("done=%v need=%d err=%v", done, need, err)
		}
	})
	t.Run("array of MaxArrayLen is accepted", func(t *testing.T) {
		in := []byte("*" + strconv.FormatInt(MaxArrayLen, 10) + "\r\n")
		if n, done, _, err := scan(in); err != nil || done || n != len(in) {
			t.Fatalf("n=%d done=%v err=%v", n, done, err)
		}
	})
	// The bulk body is not a line: a bulk far longer than MaxLineLen, with
	// no LF in it, is fine.
	t.Run("bulk body longer than MaxLineLen", func(t *testing.T) {
		body := strings.Repeat("z", 2*MaxLineLen+3)
		in := []byte(bulkOf(body))
		res := feed(t, in, []int{3, 10, MaxLineLen + 5, 2 * MaxLineLen})
		if res.err != nil || len(res.replies) != 1 {
			t.Fatalf("err %v, %d replies", res.err, len(res.replies))
		}
		if got := decodeReplies(t, res.replies); got[0] != bulkV(body) {
			t.Fatalf("wrong body")
		}
	})
}

// MaxLineLen must not depend on how the bytes arrive: a simple string line
// longer than MaxLineLen is refused when it arrives in pieces, so it must
// be refused when it arrives whole, too.
func TestReaderLongLineWholeVsSplit(t *testing.T) {
	in := []byte("+" + strings.Repeat("a", MaxLineLen+10) + "\r\n")
	split := feed(t, in, []int{MaxLineLen + 5})
	whole := feed(t, in, nil)
	if !isProtocolError(split.err) {
		t.Fatalf("split: err %v, want *ProtocolError", split.err)
	}
	if !isProtocolError(whole.err) {
		t.Fatalf("engine bug: a %d-byte status line is accepted when it arrives whole (%d replies) but refused when split: MaxLineLen is only checked while no LF is buffered", len(in), len(whole.replies))
	}
}

// The same at the exact boundary: cut just before the LF (or the CR), a
// line is judged as it is when whole.
func TestReaderLineLimitBoundary(t *testing.T) {
	for extra := -2; extra <= 2; extra++ {
		in := []byte("+" + strings.Repeat("a", MaxLineLen-1+extra) + "\r\n")
		whole := feed(t, in, nil)
		for _, cut := range []int{len(in) - 1, len(in) - 2} {
			if split := feed(t, in, []int{cut}); !sameResult(whole, split) {
				t.Errorf("line of %d bytes before its LF (MaxLineLen%+d): whole gives err=%v, cut at %d gives err=%v",
					len(in)-1, len(in)-1-MaxLineLen, whole.err, cut, split.err)
			}
		}
	}
}

// After Reset, a half-read reply is forgotten and the next one reads cleanly.
func TestReaderReset(t *testing.T) {
	var r Reader
	var tape Tape
	if n, done, _, err := r.Scan([]byte("*3\r\n*2\r\n:1\r\n"), &tape); err != nil || done || n != 12 {
		t.Fatalf("n=%d done=%v err=%v", n, done, err)
	}
	r.Reset()
	tape.Reset()
	if n, done, _, err := r.Scan([]byte(":7\r\n"), &tape); err != nil || !done || n != 4 {
		t.Fatalf("after Reset: n=%d done=%v err=%v", n, done, err)
	}
	if got := mustDecode(t, tape.Buf); !reflect.DeepEqual(got, []any{int64(7)}) {
		t.Fatalf("got %#v", got)
	}
}

// Every int64 round-trips, and near-limit neighbours are refused.
func TestReaderIntegers(t *testing.T) {
	vals := []int64{0, 1, -1, 9, 10, -10, 99, 100, math.MaxInt32, math.MinInt32, math.MaxUint32,
		math.MaxInt64, math.MinInt64, math.MaxInt64 / 10, math.MinInt64 / 10, math.MaxInt64/10*10 + 7}
	rnd := rand.New(rand.NewSource(3))
	for i := 0; i < 1000; i++ {
		vals = append(vals, int64(rnd.Uint64()), rnd.Int63n(1000000)-500000)
	}
	for _, v := range vals {
		in := []byte(":" + strconv.FormatInt(v, 10) + "\r\n")
		res := feed(t, in, nil)
		if res.err != nil || len(res.replies) != 1 {
			t.Fatalf("%d: err %v", v, res.err)
		}
		if got := decodeReplies(t, res.replies)[0]; got != v {
			t.Fatalf("%d decoded as %v", v, got)
		}
	}
	for _, s := range []string{"9223372036854775808", "9223372036854775809", "9223372036854775810",
		"-9223372036854775809", "-9223372036854775810", "92233720368547758070", "19223372036854775807"} {
		if res := feed(t, []byte(":"+s+"\r\n"), nil); !isProtocolError(res.err) {
			t.Fatalf("%s: err %v, want *ProtocolError", s, res.err)
		}
	}
}

// Random valid replies fed in random pieces decode to what was encoded.
func TestReaderRandomReplies(t *testing.T) {
	rnd := rand.New(rand.NewSource(4))
	for i := 0; i < 300; i++ {
		var in []byte
		var want []any
		for k := 1 + rnd.Intn(4); k > 0; k-- {
			b, v := randomReply(rnd, 0)
			in = append(in, b...)
			want = append(want, v)
		}
		whole := feed(t, in, nil)
		if whole.err != nil {
			t.Fatalf("%q: %v", clipS(in), whole.err)
		}
		if got := decodeReplies(t, whole.replies); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", clipS(in), got, want)
		}
		for k := 0; k < 5; k++ {
			cuts := randomCuts(len(in), rnd)
			if split := feed(t, in, cuts); !sameResult(whole, split) {
				t.Fatalf("%q cut at %v: differs from whole", clipS(in), cuts)
			}
		}
	}
}

func randomReply(rnd *rand.Rand, depth int) ([]byte, any) {
	k := rnd.Intn(9)
	if depth >= 4 && k >= 7 {
		k = 0
	}
	switch k {
	case 0:
		s := randomText(rnd)
		return []byte("+" + s + "\r\n"), simpleV(s)
	case 1:
		s := randomText(rnd)
		return []byte("-" + s + "\r\n"), errV(s)
	case 2:
		v := int64(rnd.Uint64())
		if rnd.Intn(2) == 0 {
			v = rnd.Int63n(200) - 100
		}
		return []byte(":" + strconv.FormatInt(v, 10) + "\r\n"), v
	case 3, 4:
		b := make([]byte, rnd.Intn(1+rnd.Intn(300)))
		rnd.Read(b)
		return []byte(bulkOf(string(b))), bulkV(b)
	case 5:
		if rnd.Intn(2) == 0 {
			return []byte("$-1\r\n"), nil
		}
		return []byte("*-1\r\n"), nil
	default:
		n := rnd.Intn(6)
		out := []byte("*" + strconv.Itoa(n) + "\r\n")
		arr := []any{}
		for i := 0; i < n; i++ {
			b, v := randomReply(rnd, depth+1)
			out = append(out, b...)
			arr = append(arr, v)
		}
		return out, arr
	}
}

func randomText(rnd *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyz ABC0123456789-+:$*_'\"\t"
	b := make([]byte, rnd.Intn(20))
	for i := range b {
		b[i] = chars[rnd.Intn(len(chars))]
	}
	return string(b)
}
