package main

// Entry points for pub/sub and MONITOR connections (engine.Subscriber);
// bridge_pubsub.c is their Python side. The ownership rules of main.go
// hold: pointers passed in are borrowed for the call, a tape returned
// through tape_out is malloc'd C memory the caller frees, handles are
// integers and an unknown or closed one is CP_CLOSED.

/*
#include <stdint.h>
*/
import "C"

import "cpipe/cpipe/engine"

func lookupSub(h C.uint64_t) *engine.Subscriber {
	s, _ := load(h).(*engine.Subscriber)
	return s
}

// cp_sub_open makes a Subscriber that connects as group h's connections
// do (server, timeouts, AUTH/SELECT/CLIENT SETNAME; RESP2). The queue holds
// at most max_messages messages and about max_bytes bytes (0: the
// engine's defaults); at the bound the engine stops reading the socket.
// monitor: a MONITOR connection (cp_sub_start connects it). notify_fd >= 0
// gets one byte when messages arrive after a drain (the fd stays the
// caller's). reconnect_for: seconds to keep reconnecting after a loss (0:
// the default, negative: until closed). Returns 0 when h is unknown. It
// does not connect: the first cp_sub_send (or cp_sub_start) does.
//
//export cp_sub_open
func cp_sub_open(h C.uint64_t, maxMessages, maxBytes C.int64_t, monitor, notifyFd C.int, reconnectFor C.double) C.uint64_t {
	g := lookup(h)
	if g == nil {
		return 0
	}
	rf := seconds(reconnectFor)
	if reconnectFor < 0 {
		rf = -1
	}
	return register(engine.NewSubscriber(engine.SubOptions{
		Conn:         g.SubscriberOptions(),
		MaxMessages:  int(maxMessages),
		MaxBytes:     int(maxBytes),
		Monitor:      monitor != 0,
		NotifyFd:     int(notifyFd),
		ReconnectFor: rf,
	}))
}

// cp_sub_send writes one RESP-encoded pub/sub command (SUBSCRIBE family,
// PING) from the calling thread; its replies arrive through cp_sub_poll.
// It connects first when needed (interruptible as for cp_exec).
//
//export cp_sub_send
func cp_sub_send(h C.uint64_t, data *C.char, dataLen C.int64_t, interruptible C.int, errbuf *C.char, errcap C.int) C.int {
	s := lookupSub(h)
	if s == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	var hook func() bool
	if interruptible != 0 {
		hook = bridgeInterrupted
	}
	return report(s.Send(borrowBytes(data, int64(dataLen)), hook), errbuf, errcap)
}

// cp_sub_start connects a MONITOR connection and reads the server's +OK.
//
//export cp_sub_start
func cp_sub_start(h C.uint64_t, interruptible C.int, errbuf *C.char, errcap C.int) C.int {
	s := lookupSub(h)
	if s == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	var hook func() bool
	if interruptible != 0 {
		hook = bridgeInterrupted
	}
	return report(s.Start(hook), errbuf, errcap)
}

// cp_sub_poll takes up to max queued messages as one tape (one top-level
// entry each; *count of them), waiting up to timeout seconds for the first
// (0: no wait). The bridge waits one tick at a time, so signals run in
// between. CP_CLOSED once closed (a waiting poll returns it at once);
// another status when the connection was lost for good.
//
//export cp_sub_poll
func cp_sub_poll(h C.uint64_t, timeout C.double, max C.int64_t, tapeOut **C.char, tapeLen *C.int64_t, count *C.int64_t,
	errbuf *C.char, errcap C.int) C.int {
	*tapeOut, *tapeLen, *count = nil, 0, 0
	s := lookupSub(h)
	if s == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	t := engine.Tape{Grow: cGrow}
	n, err := s.Poll(seconds(timeout), int(max), &t)
	*tapeOut, *tapeLen = handOver(t.Buf)
	*count = C.int64_t(n)
	if n > 0 {
		return statusOf(nil)
	}
	return report(err, errbuf, errcap)
}

// cp_sub_stats reports the queued messages, queued tape bytes and the
// reconnects so far. Returns 0 for an unknown handle.
//
//export cp_sub_stats
func cp_sub_stats(h C.uint64_t, messages, bytes, reconnects *C.int64_t) C.int {
	s := lookupSub(h)
	if s == nil {
		return 0
	}
	m, b := s.Queued()
	*messages, *bytes, *reconnects = C.int64_t(m), C.int64_t(b), C.int64_t(s.Reconnects())
	return 1
}

// cp_sub_close closes the connection, wakes a waiting poller and forgets h;
// safe from any thread.
//
//export cp_sub_close
func cp_sub_close(h C.uint64_t) {
	if v, ok := handles.LoadAndDelete(uint64(h)); ok {
		if s, ok := v.(*engine.Subscriber); ok {
			s.Close()
		}
	}
}
