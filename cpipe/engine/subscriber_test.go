package engine

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// pubsubServer is a fake server that speaks just enough pub/sub: SUBSCRIBE
// family confirmations, PING, and publish(channel, data) from the test.
type pubsubServer struct {
	*fakeServer
	mu    sync.Mutex
	conns []*serverConn
	subs  map[*serverConn]map[string]bool
}

func newPubsubServer(t *testing.T) *pubsubServer {
	ps := &pubsubServer{subs: map[*serverConn]map[string]bool{}}
	ps.fakeServer = newFakeServer(t, ps.serve)
	return ps
}

func (ps *pubsubServer) serve(sc *serverConn) {
	ps.mu.Lock()
	ps.conns = append(ps.conns, sc)
	ps.subs[sc] = map[string]bool{}
	ps.mu.Unlock()
	for {
		args, err := sc.readCommand()
		if err != nil {
			return
		}
		ps.mu.Lock()
		name := strings.ToUpper(args[0])
		switch name {
		case "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE":
			kind := strings.ToLower(name)
			for _, ch := range args[1:] {
				if name == "UNSUBSCRIBE" {
					delete(ps.subs[sc], ch)
				} else {
					ps.subs[sc][ch] = true
				}
				sc.w.WriteString("*3\r\n")
				sc.bulk(kind)
				sc.bulk(ch)
				fmt.Fprintf(sc.w, ":%d\r\n", len(ps.subs[sc]))
			}
		case "PING":
			sc.w.WriteString("*2\r\n")
			sc.bulk("pong")
			sc.bulk("")
		case "AUTH", "SELECT", "CLIENT":
			sc.w.WriteString("+OK\r\n")
		case "MONITOR":
			sc.w.WriteString("+OK\r\n")
			sc.w.WriteString("+1.0 [0 127.0.0.1:1] \"PING\"\r\n")
		default:
			sc.w.WriteString("-ERR unknown\r\n")
		}
		sc.w.Flush()
		ps.mu.Unlock()
	}
}

// publish sends a message to every connection subscribed to ch; returns how many.
func (ps *pubsubServer) publish(ch, data string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n := 0
	for sc, set := range ps.subs {
		if set[ch] {
			sc.w.WriteString("*3\r\n")
			sc.bulk("message")
			sc.bulk(ch)
			sc.bulk(data)
			sc.w.Flush()
			n++
		}
	}
	return n
}

func (ps *pubsubServer) subscribers(ch string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n := 0
	for _, set := range ps.subs {
		if set[ch] {
			n++
		}
	}
	return n
}

func (ps *pubsubServer) dropAll() {
	ps.mu.Lock()
	for sc := range ps.subs {
		sc.Conn.(*net.TCPConn).SetLinger(0)
		sc.Close()
		delete(ps.subs, sc)
	}
	ps.mu.Unlock()
}

// pollSub collects n messages (decoded tapes), failing after d.
func pollSub(t *testing.T, s *Subscriber, n int, d time.Duration) [][]any {
	t.Helper()
	var out [][]any
	deadline := time.Now().Add(d)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d messages: %v", len(out), n, out)
		}
		var tp Tape
		k, err := s.Poll(50*time.Millisecond, 0, &tp)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		msgs := mustDecode(t, tp.Buf)
		if len(msgs) != k {
			t.Fatalf("poll said %d messages, tape has %d", k, len(msgs))
		}
		for _, m := range msgs {
			out = append(out, m.([]any))
		}
	}
	return out
}

func subKinds(msgs [][]any) []string {
	var k []string
	for _, m := range msgs {
		k = append(k, fmt.Sprint(m[0]))
	}
	return k
}

func TestSubscriberSubscribesAndReceives(t *testing.T) {
	srv := newPubsubServer(t)
	s := NewSubscriber(SubOptions{Conn: srv.options(), NotifyFd: -1})
	defer s.Close()
	if err := s.Send(appendCmd(nil, "SUBSCRIBE", "a", "b"), nil); err != nil {
		t.Fatal(err)
	}
	got := pollSub(t, s, 2, 5*time.Second)
	if fmt.Sprint(subKinds(got)) != "[subscribe subscribe]" {
		t.Fatalf("confirmations: %v", got)
	}
	for i := 0; i < 100; i++ {
		srv.publish("a", fmt.Sprint(i))
	}
	got = pollSub(t, s, 100, 5*time.Second)
	for i, m := range got {
		if fmt.Sprintf("%s", m[2]) != fmt.Sprint(i) {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	if err := s.Send(appendCmd(nil, "GET", "x"), nil); err == nil {
		t.Fatal("GET was accepted on a subscriber")
	}
	ch, _, _ := s.Confirmed()
	if len(ch) != 2 {
		t.Fatalf("confirmed channels: %v", ch)
	}
}

func TestSubscriberReconnectsResubscribesThenNotices(t *testing.T) {
	srv := newPubsubServer(t)
	s := NewSubscriber(SubOptions{Conn: srv.options(), NotifyFd: -1})
	defer s.Close()
	s.Send(appendCmd(nil, "SUBSCRIBE", "a", "b"), nil)
	s.Send(appendCmd(nil, "PSUBSCRIBE", "p*"), nil)
	s.Send(appendCmd(nil, "UNSUBSCRIBE", "b"), nil)
	pollSub(t, s, 4, 5*time.Second)
	srv.dropAll()
	waitFor(t, 5*time.Second, "re-subscription", func() bool { return srv.subscribers("a") == 1 })
	got := pollSub(t, s, 3, 5*time.Second)
	if fmt.Sprint(subKinds(got)) != "[subscribe psubscribe reconnect]" {
		t.Fatalf("after the loss: %v", got)
	}
	notice := got[2]
	if notice[4] != int64(1) || notice[5] != int64(1) || notice[6] != int64(0) {
		t.Fatalf("notice counts: %v", notice)
	}
	if srv.subscribers("b") != 0 {
		t.Fatal("an unsubscribed channel was re-subscribed")
	}
	srv.publish("a", "after")
	if got := pollSub(t, s, 1, 5*time.Second); fmt.Sprintf("%s", got[0][2]) != "after" {
		t.Fatalf("after the notice: %v", got)
	}
	if s.Reconnects() != 1 {
		t.Fatalf("reconnects = %d", s.Reconnects())
	}
}

func TestSubscriberQueueIsBounded(t *testing.T) {
	srv := newPubsubServer(t)
	s := NewSubscriber(SubOptions{Conn: srv.options(), NotifyFd: -1, MaxMessages: 10})
	defer s.Close()
	s.Send(appendCmd(nil, "SUBSCRIBE", "a"), nil)
	pollSub(t, s, 1, 5*time.Second)
	const total = 5000
	go func() {
		for i := 0; i < total; i++ {
			srv.publish("a", fmt.Sprint(i))
		}
	}()
	time.Sleep(200 * time.Millisecond)
	if m, _ := s.Queued(); m > 10+subBatchMessages {
		t.Fatalf("queued %d messages past the bound", m)
	}
	got := pollSub(t, s, total, 20*time.Second)
	for i, m := range got {
		if fmt.Sprintf("%s", m[2]) != fmt.Sprint(i) {
			t.Fatalf("message %d out of order: %v", i, m)
		}
	}
}

func TestSubscriberCloseWakesPollAndStopsReconnecting(t *testing.T) {
	srv := newPubsubServer(t)
	s := NewSubscriber(SubOptions{Conn: srv.options(), NotifyFd: -1, ReconnectFor: -1})
	s.Send(appendCmd(nil, "SUBSCRIBE", "a"), nil)
	pollSub(t, s, 1, 5*time.Second)
	srv.Close() // nothing to reconnect to
	done := make(chan error, 1)
	go func() {
		var tp Tape
		_, err := s.Poll(time.Minute, 0, &tp)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err != ErrClosed {
			t.Fatalf("poll after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the poller")
	}
}

func TestSubscriberGivesUpAfterReconnectFor(t *testing.T) {
	srv := newPubsubServer(t)
	s := NewSubscriber(SubOptions{Conn: srv.options(), NotifyFd: -1, ReconnectFor: 200 * time.Millisecond})
	defer s.Close()
	s.Send(appendCmd(nil, "SUBSCRIBE", "a"), nil)
	pollSub(t, s, 1, 5*time.Second)
	srv.Close()
	within(t, 5*time.Second, "giving up", func() {
		for {
			var tp Tape
			if _, err := s.Poll(50*time.Millisecond, 0, &tp); err != nil {
				if !strings.Contains(err.Error(), "not replaced within") {
					t.Errorf("error: %v", err)
				}
				return
			}
		}
	})
}

func TestSubscriberMonitorMode(t *testing.T) {
	srv := newPubsubServer(t)
	s := NewSubscriber(SubOptions{Conn: srv.options(), NotifyFd: -1, Monitor: true})
	defer s.Close()
	if err := s.Start(nil); err != nil {
		t.Fatal(err)
	}
	var tp Tape
	deadline := time.Now().Add(5 * time.Second)
	for len(tp.Buf) == 0 && time.Now().Before(deadline) {
		s.Poll(50*time.Millisecond, 0, &tp)
	}
	got := mustDecode(t, tp.Buf)
	if len(got) != 1 || !strings.Contains(fmt.Sprint(got[0]), "PING") {
		t.Fatalf("monitor lines: %v", got)
	}
	if err := s.Send(appendCmd(nil, "SUBSCRIBE", "a"), nil); err == nil {
		t.Fatal("a MONITOR connection accepted SUBSCRIBE")
	}
}

func TestResp2InitDropsHello(t *testing.T) {
	init := appendCmd(nil, "HELLO", "3", "AUTH", "u", "p", "SETNAME", "n")
	init = appendCmd(init, "SELECT", "2")
	out, n := resp2Init(init)
	want := appendCmd(appendCmd(appendCmd(nil, "AUTH", "u", "p"), "CLIENT", "SETNAME", "n"), "SELECT", "2")
	if n != 3 || string(out) != string(want) {
		t.Fatalf("got %d %q", n, out)
	}
}
