package engine

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// The +switch-master listener: one engine-owned pub/sub connection (a
// Subscriber) to one sentinel at a time, subscribed to +switch-master.
// Sentinels publish there when a failover has promoted a new master:
// "<name> <old ip> <old port> <new ip> <new port>". On the message the
// service's master targets move to the new address (SentinelTarget.moveTo),
// which fails their groups' connections to the old one.
//
// When the sentinel is lost and not back within watchReconnectFor, the
// listener moves to the next sentinel. After every (re)subscription it
// asks for the masters again (Sentinel.recheck): a switch announced while
// nobody listened is caught then. A missed message is no worse than no
// listener: the connections still move on a READONLY reply or on the
// loss of the old master.

const (
	watchReconnectFor = time.Second
	watchBackoffFirst = 100 * time.Millisecond
	watchBackoffCap   = 2 * time.Second
	watchPoll         = time.Second
)

var switchMasterSubscribe = appendCommand(nil, "SUBSCRIBE", []string{"+switch-master"})

type sentinelWatch struct {
	s    *Sentinel
	done chan struct{}

	mu      sync.Mutex
	sub     *Subscriber // the current connection; nil between two
	stopped bool
	exited  chan struct{}
}

func startSentinelWatch(s *Sentinel) *sentinelWatch {
	w := &sentinelWatch{s: s, done: make(chan struct{}), exited: make(chan struct{})}
	go w.run()
	return w
}

// stop ends the listener and waits for its goroutine.
func (w *sentinelWatch) stop() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.done)
		if w.sub != nil {
			w.sub.Close()
		}
	}
	w.mu.Unlock()
	<-w.exited
}

func (w *sentinelWatch) run() {
	defer close(w.exited)
	delay := watchBackoffFirst
	for i := 0; ; i++ {
		nodes := w.s.snapshot()
		if len(nodes) == 0 {
			return
		}
		g := nodes[i%len(nodes)]
		sub := NewSubscriber(SubOptions{Conn: g.SubscriberOptions(), NotifyFd: -1,
			ReconnectFor: watchReconnectFor, MaxMessages: 1024})
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			sub.Close()
			return
		}
		w.sub = sub
		w.mu.Unlock()
		heard := false
		if sub.Send(switchMasterSubscribe, nil) == nil {
			heard = w.listen(sub)
		}
		sub.Close()
		w.mu.Lock()
		w.sub = nil
		w.mu.Unlock()
		if heard {
			delay = watchBackoffFirst
		}
		select {
		case <-w.done:
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, watchBackoffCap)
	}
}

// listen handles sub's messages until it gives up or is closed; it
// reports whether the subscription was ever confirmed.
func (w *sentinelWatch) listen(sub *Subscriber) bool {
	confirmed := false
	var t Tape
	for {
		t.Reset()
		n, err := sub.Poll(watchPoll, 64, &t)
		if err != nil {
			return confirmed
		}
		b := t.Buf
		for i := 0; i < n && len(b) > 0; i++ {
			words := messageWords(b)
			b = skipEntry(b)
			switch {
			case len(words) == 3 && words[0] == "message" && words[1] == "+switch-master":
				w.onSwitch(words[2])
			case len(words) >= 1 && (words[0] == "subscribe" || words[0] == "reconnect"):
				confirmed = true
				// (Re)subscribed: a switch may have happened while nobody listened.
				go w.s.recheck()
			}
		}
	}
}

func (w *sentinelWatch) onSwitch(payload string) {
	f := strings.Fields(payload)
	if len(f) != 5 {
		return
	}
	port, err := strconv.Atoi(f[4])
	if err != nil || port <= 0 || port > 65535 {
		return
	}
	w.s.switched(f[0], f[3], port)
}

// messageWords returns the string elements of a message array (the
// subscription's count and the notice's numbers are left out).
func messageWords(b []byte) []string {
	if len(b) < 9 || (b[0] != KindArray && b[0] != KindPush) {
		return nil
	}
	n := int(leUint64(b[1:]))
	b = b[9:]
	var out []string
	for i := 0; i < n && len(b) > 0; i++ {
		if s, ok := tapeString(b); ok {
			out = append(out, s)
		}
		b = skipEntry(b)
	}
	return out
}
