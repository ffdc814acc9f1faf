package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func newTestBulk(t *testing.T, srv *fakeServer, o BulkOptions) *Bulk {
	t.Helper()
	o.Conn = srv.options()
	b := NewBulk(o)
	if err := b.Connect(nil); err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func batchOf(n int, f func(i int) []string) []byte {
	var out []byte
	for i := 0; i < n; i++ {
		out = appendCmd(out, f(i)...)
	}
	return out
}

// A server that stops reading while its client does not read its replies
// (serveDefault): the Bulk reads at every call and at the bound, so it
// never deadlocks, and the counts are exact.
func TestBulkCountsAndErrorsWithAServerThatStopsReading(t *testing.T) {
	srv := newFakeServer(t, nil)
	b := newTestBulk(t, srv, BulkOptions{MaxPending: 5000, MaxPendingBytes: 64 << 10})
	within(t, 30*time.Second, "200,000 commands", func() {
		for k := 0; k < 200; k++ {
			data := batchOf(1000, func(i int) []string {
				if k == 7 && i == 3 {
					return []string{"ERR", "boom"}
				}
				return []string{"SINK", strings.Repeat("x", 20)}
			})
			if err := b.Send(data, 1000, true, nil); err != nil {
				t.Fatalf("send %d: %v", k, err)
			}
			if s := b.Stats(); s.PendingBytes > 64<<10 {
				t.Fatalf("pending bytes %d over the bound", s.PendingBytes)
			}
		}
		if err := b.Finish(nil); err != nil {
			t.Fatal(err)
		}
	})
	s := b.Stats()
	if s.Queued != 200_000 || s.Sent != 200_000 || s.Acked != 200_000 || s.Errors != 1 || s.PeakBytes > 64<<10 {
		t.Fatalf("stats %+v", s)
	}
	if got := srv.commands.Load(); got != 200_000 {
		t.Fatalf("server read %d commands", got)
	}
	errs := b.TakeErrors()
	if len(errs) != 1 || errs[0].Index != 7003 || errs[0].Msg != "ERR boom" || string(errs[0].Command) != string(cmd("ERR", "boom")) {
		t.Fatalf("errors %+v", errs)
	}
}

func TestBulkLostConnectionSaysWhatWasAcknowledged(t *testing.T) {
	srv := newFakeServer(t, nil)
	b := newTestBulk(t, srv, BulkOptions{})
	data := batchOf(500, func(i int) []string { return []string{"PING"} })
	data = appendCmd(data, "CLOSE") // answered by hanging up, after the 500 replies
	if err := b.Send(data, 501, true, nil); err != nil {
		t.Fatal(err)
	}
	err := b.Finish(nil)
	var lost *BulkLostError
	if !errors.As(err, &lost) || lost.Acked != 500 || lost.Sent != 501 {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "after 500 commands were acknowledged") {
		t.Fatalf("message: %v", err)
	}
	if err := b.Send(cmd("PING"), 1, true, nil); !errors.As(err, &lost) || lost.Acked != 500 {
		t.Fatalf("a later send: %v (never a new connection)", err)
	}
	if n := srv.accepts.Load(); n != 1 {
		t.Fatalf("%d connections", n)
	}
}

func TestBulkStrayReplyIsAProtocolError(t *testing.T) {
	srv := newFakeServer(t, serveWith(func(sc *serverConn, args []string) (bool, bool) {
		if args[0] == "TWICE" {
			sc.w.WriteString("+OK\r\n+OK\r\n")
			return true, true
		}
		return false, true
	}))
	b := newTestBulk(t, srv, BulkOptions{})
	// Send may already read the replies (the server is quick) and find the
	// stray one; if it does not, Finish does.
	err := b.Send(appendCmd(cmd("PING"), "TWICE"), 2, true, nil)
	if err == nil {
		err = b.Finish(nil)
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v", err)
	}
	if s := b.Stats(); s.Acked != 2 {
		t.Fatalf("acked %d", s.Acked)
	}
}

func TestBulkTimeoutWhenTheServerStopsAnswering(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	o := srv.options()
	o.SocketTimeout = 200 * time.Millisecond
	b := NewBulk(BulkOptions{Conn: o})
	if err := b.Connect(nil); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Send(cmd("PING"), 1, true, nil); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "the timeout", func() {
		if err := b.Finish(nil); !errors.Is(err, ErrTimeout) {
			t.Errorf("got %v", err)
		}
	})
}

func TestBulkInterrupt(t *testing.T) {
	srv := newFakeServer(t, serveBlackhole)
	b := newTestBulk(t, srv, BulkOptions{})
	if err := b.Send(cmd("PING"), 1, true, nil); err != nil {
		t.Fatal(err)
	}
	asked := 0
	within(t, 5*time.Second, "the interrupt", func() {
		err := b.Finish(func() bool { asked++; return asked == 3 })
		if err != ErrInterrupted {
			t.Errorf("got %v", err)
		}
	})
}
