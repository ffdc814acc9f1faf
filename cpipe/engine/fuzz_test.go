package engine

import (
	"bytes"
	"fmt"
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
	for _, s := range []string{
		"", "+", "$", "*", ":", "-", "\r", "$3\r\nab", "*2\r\n$1\r\na\r\n",
		"*1\r\n*1\r\n*1\r\n", "$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n",
		"+OK\r\n+OK\r\n+OK\r\n", ":0\r\n:-0\r\n:007\r\n",
		"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n",
		"$2\r\n\r\n\r\n", "*2\r\n*-1\r\n$-1\r\n",
		strings.Repeat("*1\r\n", MaxDepth) + ":1\r\n",
		"-ERR wrong\r\n*1\r\n-ERR inner\r\n",
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
	for _, r := range res.replies {
		v, err := decodeTape(r)
		if err != nil || len(v) != 1 {
			t.Fatalf("input %q: reply tape %v decodes to %d values, err %v", data, r, len(v), err)
		}
	}
	// Each finished reply, re-encoded canonically, scans to the same tape.
	for _, r := range res.replies {
		v, _ := decodeTape(r)
		enc := encodeRESP(nil, v[0])
		again := feed(t, enc, nil)
		if again.err != nil || len(again.replies) != 1 || !bytes.Equal(again.replies[0], r) {
			t.Fatalf("input %q: reply re-encoded as %q scans differently (err %v)", data, enc, again.err)
		}
	}
	return res
}

// encodeRESP writes a decoded tape value back as RESP2.
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
		return append(append(append(b, '-'), v...), "\r\n"...)
	case bulkV:
		b = strconv.AppendInt(append(b, '$'), int64(len(v)), 10)
		return append(append(append(b, "\r\n"...), v...), "\r\n"...)
	case []any:
		b = strconv.AppendInt(append(b, '*'), int64(len(v)), 10)
		b = append(b, "\r\n"...)
		for _, e := range v {
			b = encodeRESP(b, e)
		}
		return b
	}
	panic(fmt.Sprintf("encodeRESP: %T", v))
}
