package engine

import (
	"math"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// RESP3 replies, whole and split at every byte: what reaches the reply tape
// (want) and what reaches OnPush (pushes).
var validResp3 = []struct {
	name   string
	in     string
	want   []any
	pushes []any
}{
	{"null", "_\r\n", []any{nil}, nil},
	{"true", "#t\r\n", []any{boolV(true)}, nil},
	{"false", "#f\r\n", []any{boolV(false)}, nil},
	{"double", ",1.5\r\n", []any{dbl(1.5)}, nil},
	{"negative double", ",-0.25\r\n", []any{dbl(-0.25)}, nil},
	{"double exponent", ",1.5e10\r\n", []any{dbl(1.5e10)}, nil},
	{"double integral", ",3\r\n", []any{dbl(3)}, nil},
	{"double negative zero", ",-0\r\n", []any{dbl(math.Copysign(0, -1))}, nil},
	{"inf", ",inf\r\n", []any{dbl(math.Inf(1))}, nil},
	{"-inf", ",-inf\r\n", []any{dbl(math.Inf(-1))}, nil},
	{"+inf", ",+inf\r\n", []any{dbl(math.Inf(1))}, nil},
	{"nan", ",nan\r\n", []any{dbl(math.NaN())}, nil},
	{"double out of range is inf", ",1e999\r\n", []any{dbl(math.Inf(1))}, nil},
	{"big number", "(3492890328409238509324850943850943825024385\r\n", []any{bigV("3492890328409238509324850943850943825024385")}, nil},
	{"negative big number", "(-12\r\n", []any{bigV("-12")}, nil},
	{"verbatim", "=15\r\ntxt:hello world\r\n", []any{verbV("txt:hello world")}, nil},
	{"verbatim, empty text", "=4\r\nmkd:\r\n", []any{verbV("mkd:")}, nil},
	{"verbatim with CRLF inside", "=8\r\ntxt:a\r\nb\r\n", []any{verbV("txt:a\r\nb")}, nil},
	{"blob error", "!21\r\nSYNTAX invalid syntax\r\n", []any{errV("SYNTAX invalid syntax")}, nil},
	{"empty blob error", "!0\r\n\r\n", []any{errV("")}, nil},
	{"map", "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n,2.5\r\n",
		[]any{mapV{simpleV("first"), int64(1), bulkV("second"), dbl(2.5)}}, nil},
	{"empty map", "%0\r\n", []any{mapV{}}, nil},
	{"set", "~3\r\n$1\r\na\r\n:2\r\n#t\r\n", []any{setV{bulkV("a"), int64(2), boolV(true)}}, nil},
	{"empty set", "~0\r\n", []any{setV{}}, nil},
	{"map of aggregates", "%1\r\n$1\r\nk\r\n*2\r\n~1\r\n_\r\n%1\r\n:1\r\n:2\r\n",
		[]any{mapV{bulkV("k"), []any{setV{nil}, mapV{int64(1), int64(2)}}}}, nil},
	{"HELLO-like", "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n",
		[]any{mapV{bulkV("server"), bulkV("redis"), bulkV("proto"), int64(3)}}, nil},
	{"RESP2 and RESP3 back to back", "+OK\r\n_\r\n$-1\r\n#f\r\n*-1\r\n", []any{simpleV("OK"), nil, nil, boolV(false), nil}, nil},
	// Attributes: dropped, the reply they precede kept.
	{"attribute before a reply", "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
		[]any{[]any{int64(2039123), int64(9543892)}}, nil},
	{"attribute inside an array", "*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n", []any{[]any{int64(1), int64(2)}}, nil},
	{"attribute before the last element", "*2\r\n:1\r\n|1\r\n+a\r\n+b\r\n:2\r\n", []any{[]any{int64(1), int64(2)}}, nil},
	{"attribute in an attribute", "|1\r\n|1\r\n+x\r\n+y\r\n+a\r\n*1\r\n+b\r\n:5\r\n", []any{int64(5)}, nil},
	{"empty attribute", "|0\r\n:5\r\n", []any{int64(5)}, nil},
	{"two attributes", "|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n$1\r\nx\r\n", []any{bulkV("x")}, nil},
	{"attribute, reply, attribute, reply", "|1\r\n+a\r\n+b\r\n:1\r\n|1\r\n+a\r\n+b\r\n:2\r\n", []any{int64(1), int64(2)}, nil},
	// Push frames: to OnPush, never a reply.
	{"push alone", ">3\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n:1\r\n", nil,
		[]any{pushV{bulkV("invalidate"), []any{bulkV("k")}, int64(1)}}},
	{"push before a reply", ">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n:42\r\n", []any{int64(42)},
		[]any{pushV{bulkV("message"), bulkV("x")}}},
	{"push between replies", "+OK\r\n>1\r\n+p\r\n$1\r\nv\r\n", []any{simpleV("OK"), bulkV("v")},
		[]any{pushV{simpleV("p")}}},
	{"pushes back to back", ">1\r\n:1\r\n>1\r\n:2\r\n>0\r\n", nil, []any{pushV{int64(1)}, pushV{int64(2)}, pushV{}}},
	{"push with a null invalidation", ">2\r\n$10\r\ninvalidate\r\n_\r\n", nil, []any{pushV{bulkV("invalidate"), nil}}},
	{"push with an attribute", ">2\r\n|1\r\n+a\r\n+b\r\n+x\r\n:1\r\n", nil, []any{pushV{simpleV("x"), int64(1)}}},
	{"attribute before a push", "|1\r\n+a\r\n+b\r\n>1\r\n+x\r\n:7\r\n", []any{int64(7)}, []any{pushV{simpleV("x")}}},
	{"push nested in a reply stays in it", "*2\r\n>1\r\n:1\r\n:2\r\n", []any{[]any{pushV{int64(1)}, int64(2)}}, nil},
	{"nested to MaxDepth in maps", strings.Repeat("%1\r\n:0\r\n", MaxDepth-1) + "~1\r\n_\r\n",
		[]any{nestedMap(MaxDepth-1, setV{nil})}, nil},
}

func nestedMap(depth int, leaf any) any {
	for i := 0; i < depth; i++ {
		leaf = mapV{int64(0), leaf}
	}
	return leaf
}

var malformedResp3 = []struct{ name, in string }{
	{"null with text", "_x\r\n"},
	{"bool empty", "#\r\n"},
	{"bool word", "#true\r\n"},
	{"bool T", "#T\r\n"},
	{"double empty", ",\r\n"},
	{"double word", ",one\r\n"},
	{"double hex", ",0x1p3\r\n"},
	{"double underscore", ",1_000\r\n"},
	{"double two points", ",1.2.3\r\n"},
	{"double infinity spelled out", ",infinity\r\n"},
	{"big number empty", "(\r\n"},
	{"big number sign only", "(-\r\n"},
	{"big number with point", "(1.5\r\n"},
	{"big number with space", "(1 2\r\n"},
	{"verbatim without format", "=3\r\nabc\r\n"},
	{"verbatim without colon", "=5\r\ntxt-a\r\n"},
	{"verbatim null", "=-1\r\n"},
	{"verbatim not CRLF-terminated", "=5\r\ntxt:aXY"},
	{"blob error null", "!-1\r\n"},
	{"blob error length bad", "!x\r\n"},
	{"blob error not CRLF-terminated", "!1\r\nEXY"},
	{"map null", "%-1\r\n"},
	{"set null", "~-1\r\n"},
	{"push null", ">-1\r\n"},
	{"attribute null", "|-1\r\n"},
	{"map length bad", "%x\r\n"},
	{"map over MaxArrayLen", "%" + strconv.FormatInt(MaxArrayLen+1, 10) + "\r\n"},
	{"bad element in map", "%1\r\n+k\r\n#x\r\n"},
	{"bad element in push", ">2\r\n+k\r\n,x\r\n"},
	{"bad element in attribute", "|1\r\n+k\r\n(x\r\n:1\r\n"},
	{"maps over MaxDepth", strings.Repeat("%1\r\n:0\r\n", MaxDepth+1) + ":1\r\n"},
	{"attributes over MaxDepth", strings.Repeat("|1\r\n+a\r\n", MaxDepth+1) + ":1\r\n:1\r\n"},
}

func TestReaderResp3Valid(t *testing.T) {
	rnd := rand.New(rand.NewSource(3))
	for _, tc := range validResp3 {
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
				t.Fatalf("replies:\n got %#v\nwant %#v", got, tc.want)
			}
			if got := decodeReplies(t, whole.pushes); !reflect.DeepEqual(got, tc.pushes) {
				t.Fatalf("pushes:\n got %#v\nwant %#v", got, tc.pushes)
			}
			for _, cuts := range splitsOf(len(in), rnd) {
				if split := feed(t, in, cuts); !sameResult(whole, split) {
					t.Fatalf("cut at %v: %d replies %d pushes err=%v; whole gave %d, %d",
						clipCuts(cuts), len(split.replies), len(split.pushes), split.err, len(whole.replies), len(whole.pushes))
				}
			}
		})
	}
}

func TestReaderResp3Malformed(t *testing.T) {
	rnd := rand.New(rand.NewSource(4))
	for _, tc := range malformedResp3 {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			whole := feed(t, in, nil)
			if !isProtocolError(whole.err) {
				t.Fatalf("Scan(%q): got err %v (%d replies), want *ProtocolError", clipS(in), whole.err, len(whole.replies))
			}
			for _, cuts := range splitsOf(len(in), rnd) {
				if split := feed(t, in, cuts); !isProtocolError(split.err) || !sameResult(whole, split) {
					t.Fatalf("cut at %v: err %v", clipCuts(cuts), split.err)
				}
			}
		})
	}
}

// Every prefix of a RESP3 reply is "need more", never done or an error,
// and a push frame is only delivered once its last byte is in.
func TestReaderResp3Prefixes(t *testing.T) {
	for _, tc := range validResp3 {
		if len(tc.want)+len(tc.pushes) != 1 {
			continue
		}
		for l := 0; l < len(tc.in); l++ {
			var r Reader
			var tape Tape
			n, done, need, err := r.Scan([]byte(tc.in[:l]), &tape)
			if done || err != nil || n > l || need == 0 || r.Dropped != 0 {
				t.Fatalf("%s: prefix of %d/%d bytes gave n=%d done=%v need=%d err=%v dropped=%d",
					tc.name, l, len(tc.in), n, done, need, err, r.Dropped)
			}
		}
	}
}

// Without OnPush a push frame is dropped and counted, and the reader goes
// on with the reply after it.
func TestReaderDropsPushWithoutHook(t *testing.T) {
	in := []byte(">2\r\n+a\r\n+b\r\n:1\r\n")
	var r Reader
	var tape Tape
	n, done, need, err := r.Scan(in, &tape)
	if err != nil || done || need != 0 || n != 12 || r.Dropped != 1 || len(tape.Buf) != 0 {
		t.Fatalf("push: n=%d done=%v need=%d err=%v dropped=%d tape=%d", n, done, need, err, r.Dropped, len(tape.Buf))
	}
	n2, done, _, err := r.Scan(in[n:], &tape)
	if err != nil || !done || n+n2 != len(in) {
		t.Fatalf("reply: n=%d done=%v err=%v", n2, done, err)
	}
	if got := mustDecode(t, tape.Buf); !reflect.DeepEqual(got, []any{int64(1)}) {
		t.Fatalf("got %#v", got)
	}
}

// A push frame is the callee's: a later frame never writes into it.
func TestReaderPushFrameIsOwned(t *testing.T) {
	var frames [][]byte
	r := Reader{OnPush: func(f []byte) { frames = append(frames, f) }}
	var tape Tape
	in := []byte(">1\r\n$3\r\naaa\r\n>1\r\n$3\r\nbbb\r\n")
	for p := in; len(p) > 0; {
		n, _, _, err := r.Scan(p, &tape)
		if err != nil || n == 0 {
			t.Fatalf("n=%d err=%v", n, err)
		}
		p = p[n:]
	}
	if len(frames) != 2 || !reflect.DeepEqual(mustDecode(t, frames[0]), []any{pushV{bulkV("aaa")}}) ||
		!reflect.DeepEqual(mustDecode(t, frames[1]), []any{pushV{bulkV("bbb")}}) {
		t.Fatalf("frames %q", frames)
	}
}

// Reset forgets a half-read push and a half-read attribute.
func TestReaderResetResp3(t *testing.T) {
	var r Reader
	var tape Tape
	if _, _, _, err := r.Scan([]byte(">3\r\n+a\r\n"), &tape); err != nil || !r.InPush() {
		t.Fatalf("err=%v inPush=%v", err, r.InPush())
	}
	r.Reset()
	if _, done, _, err := r.Scan([]byte("|1\r\n+a\r\n"), &tape); err != nil || done {
		t.Fatalf("attribute: err=%v done=%v", err, done)
	}
	r.Reset()
	tape.Reset()
	if n, done, _, err := r.Scan([]byte(":7\r\n"), &tape); err != nil || !done || n != 4 || r.InPush() {
		t.Fatalf("after Reset: n=%d done=%v err=%v", n, done, err)
	}
	if got := mustDecode(t, tape.Buf); !reflect.DeepEqual(got, []any{int64(7)}) || r.Dropped != 0 {
		t.Fatalf("got %#v dropped %d", got, r.Dropped)
	}
}

// Each new kind's exact tape bytes (the bridge walks these).
func TestTapeBytesResp3(t *testing.T) {
	le := func(v uint64) string {
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return string(b)
	}
	for _, tc := range []struct{ in, tape string }{
		{"_\r\n", "_"},
		{"#t\r\n", "#" + le(1)},
		{"#f\r\n", "#" + le(0)},
		{",1.5\r\n", "," + le(math.Float64bits(1.5))},
		{",-inf\r\n", "," + le(math.Float64bits(math.Inf(-1)))},
		{"(123\r\n", "(" + le(3) + "123"},
		{"=9\r\ntxt:hello\r\n", "=" + le(9) + "txt:hello"},
		{"!3\r\nERR\r\n", "-" + le(3) + "ERR"},
		{"%1\r\n:1\r\n:2\r\n", "%" + le(1) + ":" + le(1) + ":" + le(2)},
		{"~1\r\n:1\r\n", "~" + le(1) + ":" + le(1)},
		{"*1\r\n>1\r\n:1\r\n", "*" + le(1) + ">" + le(1) + ":" + le(1)},
		{"|1\r\n:1\r\n:2\r\n:3\r\n", ":" + le(3)},
	} {
		res := feed(t, []byte(tc.in), nil)
		if res.err != nil || len(res.replies) != 1 || string(res.replies[0]) != tc.tape {
			t.Errorf("%q: tape %q err %v, want %q", tc.in, res.replies, res.err, tc.tape)
		}
	}
}
