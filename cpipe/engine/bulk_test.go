package engine

import (
	"bytes"
	"fmt"
	"testing"
)

func rawCount(t *testing.T, chunks ...[]byte) (int, bool) {
	t.Helper()
	var rc rawCounter
	total := 0
	for _, c := range chunks {
		n, _, err := rc.feed(c)
		if err != nil {
			t.Fatalf("feed(%q): %v", c, err)
		}
		total += n
	}
	return total, rc.complete()
}

var rawStream = []byte("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n" + // a command
	"SET b 2\r\n" + // inline
	"\r\n   \r\n*0\r\n*-1\r\n" + // no commands: the server sends no reply
	"*2\r\n$4\r\nINCR\r\n$0\r\n\r\n" + // an empty argument
	"PING\n") // inline ended by LF alone

func TestRawCounterWholeAndCutAnywhere(t *testing.T) {
	if n, ok := rawCount(t, rawStream); n != 4 || !ok {
		t.Fatalf("whole stream: %d commands, complete %v; want 4, true", n, ok)
	}
	for cut := 0; cut <= len(rawStream); cut++ {
		for cut2 := cut; cut2 <= len(rawStream); cut2++ {
			n, ok := rawCount(t, rawStream[:cut], rawStream[cut:cut2], rawStream[cut2:])
			if n != 4 || !ok {
				t.Fatalf("cut at %d, %d: %d commands, complete %v", cut, cut2, n, ok)
			}
		}
	}
}

func TestRawCounterHead(t *testing.T) {
	var rc rawCounter
	first := rawStream[:10]                                // inside the first command
	if n, head, _ := rc.feed(first); n != 0 || head != 0 { // it starts at a command boundary
		t.Fatalf("first chunk: n=%d head=%d", n, head)
	}
	n, head, err := rc.feed(rawStream[10:])
	if err != nil || n != 4 || head != len("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n")-10 {
		t.Fatalf("second chunk: n=%d head=%d err=%v", n, head, err)
	}
}

func TestRawCounterIncomplete(t *testing.T) {
	if _, ok := rawCount(t, rawStream[:len(rawStream)-1]); ok {
		t.Fatal("a stream ending inside PING is complete?")
	}
}

func TestRawCounterRefusesAndKeepsState(t *testing.T) {
	for _, bad := range []string{"*2\r\n$3\r\nGET\r\n:1\r\n", "*x\r\n", "*1\r\n$3\r\nGETX\r\n", "*1\r\n$-5\r\n",
		"*1\r\n$99999999999\r\n", "*1\r\n$1\r\nab\r\n"} {
		var rc rawCounter
		if _, _, err := rc.feed([]byte("*1\r\n$4\r\nPI")); err != nil {
			t.Fatal(err)
		}
		before := rc
		if _, _, err := rc.feed([]byte("NG\r\n" + bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
		if rc != before {
			t.Errorf("%q: a refused chunk changed the counter", bad)
		}
	}
}

func FuzzRawCounterCuts(f *testing.F) {
	f.Add(rawStream, 3, 17)
	f.Fuzz(func(t *testing.T, data []byte, a, b int) {
		var whole rawCounter
		n, _, err := whole.feed(data)
		if err != nil || len(data) == 0 {
			return
		}
		a, b = abs(a)%(len(data)+1), abs(b)%(len(data)+1)
		if a > b {
			a, b = b, a
		}
		var cut rawCounter
		total := 0
		for _, c := range [][]byte{data[:a], data[a:b], data[b:]} {
			m, _, err := cut.feed(c)
			if err != nil {
				t.Fatalf("whole accepted, cut at %d,%d refused: %v", a, b, err)
			}
			total += m
		}
		if total != n || cut.complete() != whole.complete() {
			t.Fatalf("whole: %d %v; cut at %d,%d: %d %v", n, whole.complete(), a, b, total, cut.complete())
		}
	})
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestBulkScannerCountsAndErrors(t *testing.T) {
	replies := []byte(":1\r\n+OK\r\n-WRONGTYPE no\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n-ERR inner\r\n_\r\n!5\r\nERR x\r\n")
	for cut := 0; cut <= len(replies); cut++ {
		s := &bulkScanner{}
		total := int64(0)
		var errs []bulkReplyErr
		buf := append([]byte(nil), replies[:cut]...)
		rest := replies[cut:]
		for {
			n, _, err := s.scan(buf, 8-total)
			if err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			buf = buf[n:]
			for _, e := range s.errs {
				errs = append(errs, bulkReplyErr{total + e.rel, e.msg})
			}
			s.errs = s.errs[:0]
			total += s.scanned
			s.scanned = 0
			if len(rest) == 0 {
				break
			}
			buf = append(buf, rest...)
			rest = nil
		}
		if total != 8 {
			t.Fatalf("cut %d: %d replies", cut, total)
		}
		want := []bulkReplyErr{{2, "WRONGTYPE no"}, {7, "ERR x"}}
		if len(errs) != 2 || errs[0] != want[0] || errs[1] != want[1] {
			t.Fatalf("cut %d: errors %v", cut, errs)
		}
	}
}

func TestNextCommandSkipsNonCommands(t *testing.T) {
	start, end, ok := nextCommand(rawStream, 0)
	if !ok || start != 0 || !bytes.HasPrefix(rawStream[end:], []byte("SET b 2")) {
		t.Fatalf("first: %d %d %v", start, end, ok)
	}
	start, end, ok = nextCommand(rawStream, end)
	if !ok || string(rawStream[start:end]) != "SET b 2\r\n" {
		t.Fatalf("inline: %q", rawStream[start:end])
	}
	start, end, ok = nextCommand(rawStream, end)
	if !ok || string(shortCommand(rawStream[start:end])) != "*2\r\n$4\r\nINCR\r\n$0\r\n\r\n" {
		t.Fatalf("after blank lines and *0: %q", rawStream[start:end])
	}
	if got := string(shortCommand([]byte("SET b 2\r\n"))); got != "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n" {
		t.Fatalf("inline as RESP: %q", got)
	}
}

// The whole-command fast path in feed agrees with the byte-by-byte machine
// (fed one byte at a time, it never sees a whole command) on what is
// counted and what is refused.
func TestRawCounterFastPathAgreesWithBytewise(t *testing.T) {
	cases := []string{
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nvX\r\n",
		"*1\r\n$4\r\nPING\n\r",
		"*1\r\n$-1\r\n",
		"*00\r\n*1\r\n$4\r\nPING\r\n",
		"*-1\r\n*1\r\n$4\r\nPING\r\n",
		"*2147483649\r\n",
		"*1\r\n$12345678901234567890\r\n",
		"*1\r\n$1234567890123456789\r\n",
		"*01\r\n$04\r\nPING\r\n",
		"*1\r\n$4\rPING\r\n",
		"*1\n$4\r\nPING\r\n",
		"*1\r\n+4\r\nPING\r\n",
		"*2\r\n$4\r\nECHO\r\n$0\r\n\r\nPING\r\n",
	}
	for _, s := range cases {
		var fast, slow rawCounter
		n, _, ferr := fast.feed([]byte(s))
		m, serr := 0, error(nil)
		for i := 0; i < len(s) && serr == nil; i++ {
			var k int
			k, _, serr = slow.feed([]byte{s[i]})
			m += k
		}
		if (ferr == nil) != (serr == nil) || (ferr == nil && (n != m || fast.complete() != slow.complete())) {
			t.Errorf("%q: whole %d %v %v; byte by byte %d %v %v", s, n, ferr, fast.complete(), m, serr, slow.complete())
		}
	}
}

// go test -run NONE -bench RawCounterFeed ./cpipe/engine: the command
// counter on cpipe-load's RESP input (HSET user:N name .. age .. city ..).
func BenchmarkRawCounterFeed(b *testing.B) {
	var data []byte
	for i := 0; len(data) < 256<<10; i++ {
		data = appendCmd(data, "HSET", fmt.Sprintf("user:%d", i), "name", fmt.Sprintf("name%d", i), "age", "42", "city", "Paris")
	}
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		var rc rawCounter
		if _, _, err := rc.feed(data); err != nil {
			b.Fatal(err)
		}
	}
}
