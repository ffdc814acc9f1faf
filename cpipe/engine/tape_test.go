package engine

import (
	"bytes"
	"math"
	"reflect"
	"testing"
)

// The byte layout is the contract with the C bridge: pin it exactly.
func TestTapeLayout(t *testing.T) {
	var tape Tape
	tape.PutInt(KindArray, 3)
	tape.PutBytes(KindBulk, []byte("ab"))
	tape.PutNil()
	tape.PutInt(KindInt, -2)
	tape.PutBytes(KindSimple, nil)
	tape.PutBytes(KindError, []byte("E"))
	want := []byte{
		'*', 3, 0, 0, 0, 0, 0, 0, 0,
		'$', 2, 0, 0, 0, 0, 0, 0, 0, 'a', 'b',
		'_',
		':', 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		'+', 0, 0, 0, 0, 0, 0, 0, 0,
		'-', 1, 0, 0, 0, 0, 0, 0, 0, 'E',
	}
	if !bytes.Equal(tape.Buf, want) {
		t.Fatalf("tape\n got %v\nwant %v", tape.Buf, want)
	}
	got := mustDecode(t, tape.Buf)
	wantV := []any{[]any{bulkV("ab"), nil, int64(-2)}, simpleV(""), errV("E")}
	if !reflect.DeepEqual(got, wantV) {
		t.Fatalf("decoded %#v", got)
	}
}

// The reader writes exactly the documented entries.
func TestReaderTapeBytes(t *testing.T) {
	var r Reader
	var tape Tape
	in := []byte("*3\r\n$2\r\nab\r\n$-1\r\n:-2\r\n")
	if _, done, _, err := r.Scan(in, &tape); !done || err != nil {
		t.Fatalf("done=%v err=%v", done, err)
	}
	var want Tape
	want.PutInt(KindArray, 3)
	want.PutBytes(KindBulk, []byte("ab"))
	want.PutNil()
	want.PutInt(KindInt, -2)
	if !bytes.Equal(tape.Buf, want.Buf) {
		t.Fatalf("tape\n got %v\nwant %v", tape.Buf, want.Buf)
	}
}

func TestTapeIntExtremes(t *testing.T) {
	for _, v := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64} {
		var tape Tape
		tape.PutInt(KindInt, v)
		if got := mustDecode(t, tape.Buf); got[0] != v {
			t.Fatalf("%d -> %v", v, got[0])
		}
	}
}

func TestTapeGrowKeepsBytes(t *testing.T) {
	type call struct{ oldLen, oldCap, newCap int }
	var calls []call
	tape := Tape{Grow: func(old []byte, newCap int) []byte {
		calls = append(calls, call{len(old), cap(old), newCap})
		nb := make([]byte, len(old), newCap)
		copy(nb, old)
		return nb
	}}
	var want []any
	for i := 0; i < 2000; i++ {
		p := bytes.Repeat([]byte{byte(i)}, i%300)
		tape.PutBytes(KindBulk, p)
		tape.PutInt(KindInt, int64(i))
		want = append(want, bulkV(p), int64(i))
	}
	if got := mustDecode(t, tape.Buf); !reflect.DeepEqual(got, want) {
		t.Fatal("tape contents changed across Grow")
	}
	if len(calls) == 0 || len(calls) > 20 {
		t.Fatalf("%d Grow calls; want a few (doubling)", len(calls))
	}
	if calls[0].newCap < minTapeCap {
		t.Fatalf("first Grow asked for %d bytes, want at least %d", calls[0].newCap, minTapeCap)
	}
	for i, c := range calls {
		if c.newCap < c.oldLen || (i > 0 && c.newCap < 2*c.oldCap) {
			t.Fatalf("Grow call %d: %+v (want at least double)", i, c)
		}
	}
}

func TestTapeReserveLarge(t *testing.T) {
	var tape Tape
	tape.PutNil()
	b := tape.Reserve(1 << 20)
	if len(b) != 1<<20 || len(tape.Buf) != 1+1<<20 || tape.Buf[0] != KindNil {
		t.Fatalf("Reserve: len %d, tape len %d", len(b), len(tape.Buf))
	}
}

func TestTapeResetKeepsMemory(t *testing.T) {
	var tape Tape
	tape.PutBytes(KindBulk, make([]byte, 1000))
	c := cap(tape.Buf)
	tape.Reset()
	if len(tape.Buf) != 0 || cap(tape.Buf) != c {
		t.Fatalf("after Reset: len %d cap %d, want 0 %d", len(tape.Buf), cap(tape.Buf), c)
	}
	tape.PutInt(KindInt, 5)
	if got := mustDecode(t, tape.Buf); !reflect.DeepEqual(got, []any{int64(5)}) {
		t.Fatalf("got %#v", got)
	}
}

func TestSkipEntry(t *testing.T) {
	var tape Tape
	tape.PutInt(KindArray, 2)
	tape.PutInt(KindArray, 2)
	tape.PutBytes(KindBulk, []byte("xyz"))
	tape.PutNil()
	tape.PutInt(KindArray, 0)
	first := len(tape.Buf)
	tape.PutBytes(KindError, []byte("e"))
	if rest := skipEntry(tape.Buf); len(rest) != len(tape.Buf)-first {
		t.Fatalf("skipEntry left %d bytes, want %d", len(rest), len(tape.Buf)-first)
	}
}
