package engine

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the Reader whole, byte by byte (for
// short inputs) and in random pieces chosen by seed. It must never panic,
// every error must be a *ProtocolError, every finished reply must be a
// well-formed tape entry, and the replies (and whether it failed) must not
// depend on how the bytes were cut.
func FuzzReader(f *testing.F) {
	for _, tc := range validReplies {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), int64(len(tc.in)))
		}
	}
	for _, tc := range malformedReplies {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), int64(len(tc.in)))
		}
	}
	for _, tc := range validResp3 {
		f.Add([]byte(tc.in), int64(len(tc.in)))
	}
	for _, tc := range malformedResp3 {
		f.Add([]byte(tc.in), int64(len(tc.in)))
	}
	for _, s := range []string{
		"", "+", "$", "*", ":", "-", "\r", "$3\r\nab", "*2\r\n$1\r\na\r\n",
		"*1\r\n*1\r\n*1\r\n", "$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n",
		"+OK\r\n+OK\r\n+OK\r\n", ":0\r\n:-0\r\n:007\r\n",
		"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n",
		"$2\r\n\r\n\r\n", "*2\r\n*-1\r\n$-1\r\n",
		strings.Repeat("*1\r\n", MaxDepth) + ":1\r\n",
		"-ERR wrong\r\n*1\r\n-ERR inner\r\n",
		"%1\r\n>1\r\n|1\r\n~0\r\n_\r\n#t\r\n(1\r\n", ",nan\r\n,-inf\r\n=5\r\ntxt:x\r\n!1\r\nE\r\n",
		">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n+OK\r\n", "|0\r\n|1\r\n:1\r\n:2\r\n*1\r\n>0\r\n",
	} {
		f.Add([]byte(s), int64(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed int64) {
		whole := fuzzFeed(t, data, nil)
		if len(data) <= 64 {
			cuts := make([]int, 0, len(data))
			for i := 1; i < len(data); i++ {
				cuts = append(cuts, i)
			}
			compareFeeds(t, data, whole, cuts)
		}
		rnd := rand.New(rand.NewSource(seed))
		for k := 0; k < 4 && len(data) > 1; k++ {
			compareFeeds(t, data, whole, randomCuts(len(data), rnd))
		}
	})
}

func compareFeeds(t *testing.T, data []byte, whole scanResult, cuts []int) {
	split := fuzzFeed(t, data, cuts)
	if !sameResult(whole, split) {
		t.Fatalf("input %q: whole gave %d replies (err %v, %d partial bytes), cut at %v gave %d (err %v, %d partial bytes)",
			data, len(whole.replies), whole.err, len(whole.partial), cuts, len(split.replies), split.err, len(split.partial))
	}
}

func fuzzFeed(t *testing.T, data []byte, cuts []int) scanResult {
	res := feed(t, data, cuts) // checks need, turns a panic into an error
	if res.err != nil && !isProtocolError(res.err) {
		t.Fatalf("input %q cut at %v: %v (want *ProtocolError)", data, cuts, res.err)
	}
	for _, r := range append(append([][]byte(nil), res.replies...), res.pushes...) {
		v, err := decodeTape(r)
		if err != nil || len(v) != 1 {
			t.Fatalf("input %q: reply tape %v decodes to %d values, err %v", data, r, len(v), err)
		}
	}
	for _, p := range res.pushes {
		if p[0] != KindPush {
			t.Fatalf("input %q: a push frame's tape starts with %q", data, p[0])
		}
	}
	// Each finished reply (and push frame), re-encoded canonically, scans to
	// the same tape, in the same place.
	for i, r := range append(append([][]byte(nil), res.replies...), res.pushes...) {
		v, _ := decodeTape(r)
		enc := encodeRESP(nil, v[0])
		again := feed(t, enc, nil)
		got := again.replies
		if i >= len(res.replies) {
			got = again.pushes
		}
		if again.err != nil || len(again.replies)+len(again.pushes) != 1 || len(got) != 1 || !bytes.Equal(got[0], r) {
			t.Fatalf("input %q: reply re-encoded as %q scans differently (err %v)", data, enc, again.err)
		}
	}
	return res
}

func encodeAggregate(b []byte, kind byte, count int, elems []any) []byte {
	b = strconv.AppendInt(append(b, kind), int64(count), 10)
	b = append(b, "\r\n"...)
	for _, e := range elems {
		b = encodeRESP(b, e)
	}
	return b
}

// encodeRESP writes a decoded tape value back as RESP2 or RESP3 (an error
// holding LF as a blob error, since a simple error cannot).
func encodeRESP(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "$-1\r\n"...)
	case int64:
		b = strconv.AppendInt(append(b, ':'), v, 10)
		return append(b, "\r\n"...)
	case simpleV:
		return append(append(append(b, '+'), v...), "\r\n"...)
	case errV:
		if strings.ContainsAny(string(v), "\n") { // only a blob error carries one
			b = strconv.AppendInt(append(b, '!'), int64(len(v)), 10)
			return append(append(append(b, "\r\n"...), v...), "\r\n"...)
		}
		return append(append(append(b, '-'), v...), "\r\n"...)
	case bulkV:
		b = strconv.AppendInt(append(b, '$'), int64(len(v)), 10)
		return append(append(append(b, "\r\n"...), v...), "\r\n"...)
	case []any:
		return encodeAggregate(b, '*', len(v), v)
	case mapV:
		return encodeAggregate(b, '%', len(v)/2, v)
	case setV:
		return encodeAggregate(b, '~', len(v), v)
	case pushV:
		return encodeAggregate(b, '>', len(v), v)
	case boolV:
		if v {
			return append(b, "#t\r\n"...)
		}
		return append(b, "#f\r\n"...)
	case doubleV:
		f := math.Float64frombits(uint64(v))
		switch {
		case math.IsNaN(f):
			return append(b, ",nan\r\n"...)
		case math.IsInf(f, 1):
			return append(b, ",inf\r\n"...)
		case math.IsInf(f, -1):
			return append(b, ",-inf\r\n"...)
		}
		b = strconv.AppendFloat(append(b, ','), f, 'g', -1, 64)
		return append(b, "\r\n"...)
	case bigV:
		return append(append(append(b, '('), v...), "\r\n"...)
	case verbV:
		b = strconv.AppendInt(append(b, '='), int64(len(v)), 10)
		return append(append(append(b, "\r\n"...), v...), "\r\n"...)
	}
	panic(fmt.Sprintf("encodeRESP: %T", v))
}
