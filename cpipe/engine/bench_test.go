package engine

import (
	"strconv"
	"strings"
	"testing"
)

func benchScan(b *testing.B, in []byte) {
	b.Helper()
	var r Reader
	var tape Tape
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tape.Reset()
		n, done, _, err := r.Scan(in, &tape)
		if err != nil || !done || n != len(in) {
			b.Fatalf("n=%d done=%v err=%v", n, done, err)
		}
	}
}

func BenchmarkScan(b *testing.B) {
	bulks100 := "*100\r\n" + strings.Repeat(bulkOf("0123456789"), 100)
	nested := "*10\r\n" + strings.Repeat("*2\r\n:1\r\n$5\r\nhello\r\n", 10)
	for _, bc := range []struct{ name, in string }{
		{"Simple", "+OK\r\n"},
		{"Error", "-ERR wrong number of arguments\r\n"},
		{"Int", ":1234567890\r\n"},
		{"Nil", "$-1\r\n"},
		{"Bulk10B", bulkOf(strings.Repeat("b", 10))},
		{"Bulk1KB", bulkOf(strings.Repeat("b", 1<<10))},
		{"Bulk100KB", bulkOf(strings.Repeat("b", 100<<10))},
		{"Array100Bulks", bulks100},
		{"NestedArray", nested},
		// RESP3
		{"Null", "_\r\n"},
		{"Bool", "#t\r\n"},
		{"Double", ",3.141592653589793\r\n"},
		{"BigNumber", "(3492890328409238509324850943850943825024385\r\n"},
		{"Verbatim", "=15\r\ntxt:hello world\r\n"},
		{"Map10", "%10\r\n" + strings.Repeat(bulkOf("field")+bulkOf("value"), 10)},
		{"Set10", "~10\r\n" + strings.Repeat(bulkOf("member"), 10)},
		{"AttributeThenInt", "|1\r\n+ttl\r\n:3600\r\n:1\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) { benchScan(b, []byte(bc.in)) })
	}
}

// A pipeline's worth of replies scanned one after another, as the
// connection's read loop does.
func BenchmarkScanPipeline1000Ints(b *testing.B) {
	var in []byte
	for i := 0; i < 1000; i++ {
		in = append(in, ":"+strconv.Itoa(i)+"\r\n"...)
	}
	var r Reader
	var tape Tape
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tape.Reset()
		for p := in; len(p) > 0; {
			n, _, _, err := r.Scan(p, &tape)
			if err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
}

func BenchmarkTape(b *testing.B) {
	p10 := []byte(strings.Repeat("t", 10))
	p1k := []byte(strings.Repeat("t", 1<<10))
	for _, bc := range []struct {
		name string
		put  func(t *Tape)
	}{
		{"PutInt", func(t *Tape) { t.PutInt(KindInt, 42) }},
		{"PutNil", func(t *Tape) { t.PutNil() }},
		{"PutBytes10B", func(t *Tape) { t.PutBytes(KindBulk, p10) }},
		{"PutBytes1KB", func(t *Tape) { t.PutBytes(KindBulk, p1k) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var tape Tape
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if i&1023 == 0 {
					tape.Reset()
				}
				bc.put(&tape)
			}
		})
	}
	// Growing from empty every time: the cost a fresh request's tape pays.
	b.Run("Grow1000Ints", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var tape Tape
			for k := 0; k < 1000; k++ {
				tape.PutInt(KindInt, int64(k))
			}
		}
	})
}

// Round trips over loopback to the fake server (its speed included).
func BenchmarkPConnDo(b *testing.B) {
	srv := newFakeServer(b, nil)
	c := newTestConn(b, srv, nil)
	data := cmd("PING")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := &Request{Data: data, N: 1}
		if err := c.Do(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPConnPipeline100(b *testing.B) {
	srv := newFakeServer(b, nil)
	c := newTestConn(b, srv, nil)
	var data []byte
	for i := 0; i < 100; i++ {
		data = appendCmd(data, "ECHO", "value")
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := &Request{Data: data, N: 100}
		if err := c.Do(req); err != nil {
			b.Fatal(err)
		}
	}
}

// Many goroutines sharing one connection: their commands are coalesced.
func BenchmarkPConnParallelDo(b *testing.B) {
	srv := newFakeServer(b, nil)
	c := newTestConn(b, srv, nil)
	data := cmd("PING")
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := &Request{Data: data, N: 1}
			if err := c.Do(req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
