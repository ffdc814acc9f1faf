// Command cpipe is built with -buildmode=c-shared into the Python extension
// module cpipe._native. This file holds the C entry points; bridge.c is the
// Python side of them and the engine package does the work.
//
// Ownership rules for every entry point:
//   - Pointers passed in (host, data, errbuf, ...) are borrowed for the call
//     only; nothing keeps them after it returns.
//   - A tape returned through tape_out is C memory (malloc) owned by the
//     caller, who releases it with free(); it may be NULL.
//   - Handles are plain integers; an unknown or closed handle is reported
//     as CP_CLOSED, never a crash.
package main

/*
#include <stdint.h>
#include <stdlib.h>
#include "options.h"

enum {
	CP_OK = 0,
	CP_CONNECTION = 1,
	CP_TIMEOUT = 2,
	CP_PROTOCOL = 3,
	CP_AUTH = 4,
	CP_CLOSED = 5,
	CP_WOULDBLOCK = 6,
	CP_INTERRUPTED = 7,
	CP_INIT = 8,
};

// Defined by the bridge: runs the host's pending signal handlers and
// reports whether one raised (see engine/interrupt.go). The engine calls it
// only from the thread that called cp_exec/cp_submit with interruptible set.
extern int cp_bridge_interrupted(void);
*/
import "C"

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"cpipe/cpipe/engine"
)

func main() {}

// Handles name groups (clients, pools) and completion queues; one counter
// serves both so a handle of one kind is never mistaken for the other.
var (
	handles    sync.Map // uint64 -> *engine.Group or *engine.Completions
	lastHandle atomic.Uint64
)

func register(v any) C.uint64_t {
	h := lastHandle.Add(1)
	handles.Store(h, v)
	return C.uint64_t(h)
}

func lookup(h C.uint64_t) *engine.Group {
	g, _ := load(h).(*engine.Group)
	return g
}

func lookupQueue(h C.uint64_t) *engine.Completions {
	q, _ := load(h).(*engine.Completions)
	return q
}

func load(h C.uint64_t) any {
	v, _ := handles.Load(uint64(h))
	return v
}

func seconds(s C.double) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(float64(s) * float64(time.Second))
}

func statusOf(err error) C.int {
	var pe *engine.ProtocolError
	var ie *engine.InitError
	if status, ok := sentinelStatus(err); ok {
		return status
	}
	if status, ok := clusterStatus(err); ok { // cluster_export.go
		return status
	}
	switch {
	case err == nil:
		return C.CP_OK
	case errors.Is(err, engine.ErrTimeout):
		return C.CP_TIMEOUT
	case errors.As(err, &pe):
		return C.CP_PROTOCOL
	case errors.Is(err, engine.ErrInterrupted):
		return C.CP_INTERRUPTED
	case errors.As(err, &ie) && ie.IsAuth():
		return C.CP_AUTH
	case errors.As(err, &ie):
		return C.CP_INIT
	case errors.Is(err, engine.ErrClosed):
		return C.CP_CLOSED
	case err == engine.ErrWouldBlock:
		return C.CP_WOULDBLOCK
	}
	return C.CP_CONNECTION
}

// report writes err's message, NUL-terminated and truncated, into errbuf.
func report(err error, errbuf *C.char, errcap C.int) C.int {
	if err != nil && errbuf != nil && errcap > 0 {
		writeCString(errbuf, int(errcap), err.Error())
	}
	return statusOf(err)
}

// cp_open creates a client (size 1) or pool of connections from *o
// (options.h), borrowed for the call; it does not connect: the first
// command does.
//
//export cp_open
func cp_open(o *C.struct_cp_options) C.uint64_t {
	return register(engine.NewGroup(engineOptions(o), int(o.size), o.autopipeline != 0))
}

// engineOptions copies the bridge's options into the engine's. The init
// commands (AUTH, SELECT, CLIENT SETNAME) are RESP, ninit of them,
// replayed after every connect; with protocol 3 the engine adds HELLO 3.
func engineOptions(o *C.struct_cp_options) engine.Options {
	return engine.Options{
		Host:           goString(o.host, int(o.host_len)),
		Port:           int(o.port),
		UnixPath:       goString(o.unix_path, int(o.unix_len)),
		ConnectTimeout: seconds(o.connect_timeout),
		SocketTimeout:  seconds(o.socket_timeout),
		Init:           goBytes(o.init, int64(o.init_len)),
		InitCount:      int(o.ninit),
		MaxQueued:      int(o.max_queued),
		ConnectOnce:    o.connect_once != 0,
		Protocol:       int(o.protocol),
		Resolver:       resolverOf(o.resolver), // Sentinel (sentinel_export.go)
		TLS:            tlsOf(o),
	}
}

// tlsOf reads the TLS settings (JSON of engine.TLSSettings; NULL:
// plaintext). An unreadable file fails every connect with a ConnError
// naming it; cpipe/_tls.py has loaded the same files with Python's ssl
// module before, so that is rare.
func tlsOf(o *C.struct_cp_options) *engine.TLSConfig {
	if o.tls == nil {
		return nil
	}
	return engine.TLSFromJSON(goString(o.tls, int(o.tls_len)))
}

// cp_protocol is the RESP version group h speaks: 3, or 2 (none asked
// for, or the server refused HELLO 3); 0 before its first connect.
//
//export cp_protocol
func cp_protocol(h C.uint64_t) C.int {
	g := lookup(h)
	if g == nil {
		return 0
	}
	return C.int(g.Protocol())
}

// cp_queue_open creates a completion queue. With notify_fd >= 0, one byte
// is written to it when completions arrive after a drain (an event loop's
// wake-up pipe); the fd stays the caller's.
//
//export cp_queue_open
func cp_queue_open(notifyFd C.int) C.uint64_t {
	return register(engine.NewCompletions(int(notifyFd)))
}

// cp_queue_close wakes waiters, refuses later submissions and forgets h.
//
//export cp_queue_close
func cp_queue_close(h C.uint64_t) {
	if q, ok := handles.LoadAndDelete(uint64(h)); ok {
		if q, ok := q.(*engine.Completions); ok {
			q.Close()
		}
	}
}

// cp_exec sends ncmds RESP-encoded commands and waits for their replies,
// in the calling thread (the bridge has released the GIL). blocking marks
// a blocking command (BLPOP, ...) that may wait block_for seconds on the
// server (negative: forever). interruptible: the caller is the thread that
// runs signal handlers; while waiting, the engine calls
// cp_bridge_interrupted about every 50 ms and, when it reports a raised
// exception, gives up with CP_INTERRUPTED (the exception stays set).
//
//export cp_exec
func cp_exec(h C.uint64_t, data *C.char, dataLen C.int64_t, ncmds C.int64_t,
	blocking C.int, blockFor C.double, interruptible C.int, tapeOut **C.char, tapeLen *C.int64_t,
	errbuf *C.char, errcap C.int) C.int {
	*tapeOut, *tapeLen = nil, 0
	g := lookup(h)
	if g == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	req := &engine.Request{Data: borrowBytes(data, int64(dataLen)), N: int(ncmds), OwnThread: true}
	if interruptible != 0 {
		req.Interrupt = bridgeInterrupted
	}
	req.Tape.Grow = cGrow
	err := g.Do(req, blocking != 0, blockDuration(blockFor))
	*tapeOut, *tapeLen = handOver(req.Tape.Buf)
	return report(err, errbuf, errcap)
}

// cp_submit queues ncmds commands on group h without waiting for replies;
// the data is copied. The completion, tagged with id, goes to queue qh and
// is collected by cp_poll; batch marks a pipeline, whose replies go back as
// one list. Blocking commands (blocking, block_for as in cp_exec) run on a
// connection of their own. With may_block 0 it returns CP_WOULDBLOCK,
// queueing nothing, instead of connecting or waiting for room (the bridge
// then retries with the GIL released, or from a worker thread).
// interruptible is as for cp_exec, for the wait for room or a connection.
//
//export cp_submit
func cp_submit(h, qh C.uint64_t, data *C.char, dataLen C.int64_t, ncmds C.int64_t, id C.uint64_t,
	batch, blocking C.int, blockFor C.double, mayBlock, interruptible C.int, errbuf *C.char, errcap C.int) C.int {
	g, q := lookup(h), lookupQueue(qh)
	if g == nil || q == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	req := &engine.Request{Data: goBytes(data, int64(dataLen)), N: int(ncmds), ID: uint64(id), Batch: batch != 0}
	if interruptible != 0 {
		req.Interrupt = bridgeInterrupted
	}
	err := g.Submit(req, q, blocking != 0, blockDuration(blockFor), mayBlock != 0)
	return report(err, errbuf, errcap)
}

// bridgeInterrupted is a Request.Interrupt hook; the engine calls it from the
// caller's own thread, so the bridge finds that thread's Python state.
func bridgeInterrupted() bool { return C.cp_bridge_interrupted() != 0 }

func blockDuration(s C.double) time.Duration {
	if s < 0 {
		return -1
	}
	return seconds(s)
}

// cp_poll collects finished submissions from queue qh, waiting up to
// timeout seconds for one (0: no wait). The tape holds, per completion:
// int id, int status, int n, int batch, then n reply entries (status 0)
// or one error entry with the message. Returns the number of completions.
//
//export cp_poll
func cp_poll(qh C.uint64_t, timeout C.double, tapeOut **C.char, tapeLen *C.int64_t) C.int64_t {
	*tapeOut, *tapeLen = nil, 0
	q := lookupQueue(qh)
	if q == nil {
		return 0
	}
	done := q.Poll(seconds(timeout))
	if len(done) == 0 {
		return 0
	}
	t := engine.Tape{Grow: cGrow}
	for _, r := range done {
		batch := int64(0)
		if r.Batch {
			batch = 1
		}
		t.PutInt(engine.KindInt, int64(r.ID))
		if r.Err != nil {
			t.PutInt(engine.KindInt, int64(statusOf(r.Err)))
			t.PutInt(engine.KindInt, 1)
			t.PutInt(engine.KindInt, batch)
			t.PutBytes(engine.KindError, []byte(r.Err.Error()))
			continue
		}
		t.PutInt(engine.KindInt, 0)
		t.PutInt(engine.KindInt, int64(r.N))
		t.PutInt(engine.KindInt, batch)
		copy(t.Reserve(len(r.Tape.Buf)), r.Tape.Buf)
	}
	*tapeOut, *tapeLen = handOver(t.Buf)
	return C.int64_t(len(done))
}

// cp_outstanding is the number of commands submitted to queue qh and not
// yet collected.
//
//export cp_outstanding
func cp_outstanding(qh C.uint64_t) C.int64_t {
	q := lookupQueue(qh)
	if q == nil {
		return 0
	}
	return C.int64_t(q.Outstanding())
}

// cp_cancel abandons an asynchronous blocking command submitted to group h
// and queue qh with tag id, closing its connection; 1 if one was found.
//
//export cp_cancel
func cp_cancel(h, qh C.uint64_t, id C.uint64_t) C.int {
	g, q := lookup(h), lookupQueue(qh)
	if g == nil || q == nil || !g.Cancel(q, uint64(id)) {
		return 0
	}
	return 1
}

// cp_close fails pending work, closes every connection and forgets h.
//
//export cp_close
func cp_close(h C.uint64_t) {
	if g := lookup(h); g != nil {
		handles.Delete(uint64(h))
		g.Close()
	}
}
