package main

// Entry points for streamed bulk writes (engine.Bulk); bridge_bulk.c is
// their Python side. The ownership rules of main.go hold: pointers passed
// in are borrowed for the call (Send and SendRaw copy the data), a tape
// returned through tape_out is malloc'd C memory the caller frees, handles
// are integers and an unknown or closed one is CP_CLOSED.

/*
#include <stdint.h>

// Raw data that is not requests the server would accept (bridge: DataError).
#define CP_BULK_DATA 20
*/
import "C"

import (
	"errors"

	"cpipe/cpipe/engine"
)

func lookupBulk(h C.uint64_t) *engine.Bulk {
	b, _ := load(h).(*engine.Bulk)
	return b
}

func hookOf(interruptible C.int) func() bool {
	if interruptible != 0 {
		return bridgeInterrupted
	}
	return nil
}

func bulkReport(err error, errbuf *C.char, errcap C.int) C.int {
	var re *engine.RawError
	if errors.As(err, &re) {
		writeCString(errbuf, int(errcap), err.Error())
		return C.CP_BULK_DATA
	}
	return report(err, errbuf, errcap)
}

// cp_bulk_open makes a Bulk that connects as group h's connections do;
// 0 when h is unknown. Limits of 0 take the engine's defaults. It does not
// connect: cp_bulk_connect does.
//
//export cp_bulk_open
func cp_bulk_open(h C.uint64_t, maxPending, maxPendingBytes, maxErrors C.int64_t, keepReplies C.int) C.uint64_t {
	g := lookup(h)
	if g == nil {
		return 0
	}
	return register(engine.NewBulk(engine.BulkOptions{
		Conn:            g.SubscriberOptions(),
		MaxPending:      int(maxPending),
		MaxPendingBytes: int(maxPendingBytes),
		MaxErrors:       int(maxErrors),
		KeepReplies:     keepReplies != 0,
		Grow:            cGrow,
	}))
}

// cp_bulk_connect connects in the calling thread (interruptible as for cp_exec).
//
//export cp_bulk_connect
func cp_bulk_connect(h C.uint64_t, interruptible C.int, errbuf *C.char, errcap C.int) C.int {
	b := lookupBulk(h)
	if b == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	return report(b.Connect(hookOf(interruptible)), errbuf, errcap)
}

// cp_bulk_protocol is the RESP version the bulk connection speaks.
//
//export cp_bulk_protocol
func cp_bulk_protocol(h C.uint64_t) C.int {
	b := lookupBulk(h)
	if b == nil {
		return 0
	}
	return C.int(b.Protocol())
}

// cp_bulk_send hands over n encoded commands (copied). may_block 0:
// CP_WOULDBLOCK, taking nothing, instead of waiting for room.
//
//export cp_bulk_send
func cp_bulk_send(h C.uint64_t, data *C.char, dataLen, n C.int64_t, mayBlock, interruptible C.int,
	errbuf *C.char, errcap C.int) C.int {
	b := lookupBulk(h)
	if b == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	err := b.Send(borrowBytes(data, int64(dataLen)), int(n), mayBlock != 0, hookOf(interruptible))
	return bulkReport(err, errbuf, errcap)
}

// cp_bulk_send_raw hands over a chunk of a raw request stream (copied);
// want >= 0 must be the number of commands it completes. *counted is that
// number. CP_BULK_DATA for bytes the server would refuse (nothing sent).
//
//export cp_bulk_send_raw
func cp_bulk_send_raw(h C.uint64_t, data *C.char, dataLen, want C.int64_t, mayBlock, interruptible C.int,
	counted *C.int64_t, errbuf *C.char, errcap C.int) C.int {
	*counted = 0
	b := lookupBulk(h)
	if b == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	n, err := b.SendRaw(borrowBytes(data, int64(dataLen)), int(want), mayBlock != 0, hookOf(interruptible))
	*counted = C.int64_t(n)
	return bulkReport(err, errbuf, errcap)
}

// cp_bulk_finish waits for every reply.
//
//export cp_bulk_finish
func cp_bulk_finish(h C.uint64_t, interruptible C.int, errbuf *C.char, errcap C.int) C.int {
	b := lookupBulk(h)
	if b == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	return bulkReport(b.Finish(hookOf(interruptible)), errbuf, errcap)
}

// cp_bulk_stats reports: queued, sent, acknowledged, error replies,
// bytes unanswered, the most bytes ever unanswered. 0 for an unknown handle.
//
//export cp_bulk_stats
func cp_bulk_stats(h C.uint64_t, queued, sent, acked, errs, pending, peak *C.int64_t) C.int {
	b := lookupBulk(h)
	if b == nil {
		return 0
	}
	s := b.Stats()
	*queued, *sent, *acked, *errs = C.int64_t(s.Queued), C.int64_t(s.Sent), C.int64_t(s.Acked), C.int64_t(s.Errors)
	*pending, *peak = C.int64_t(s.PendingBytes), C.int64_t(s.PeakBytes)
	return 1
}

// cp_bulk_errors takes the kept error replies as a tape: per error, an int
// entry (its index), a bulk entry with the command's RESP (nil entry when
// unknown), an error entry with the message. Returns how many.
//
//export cp_bulk_errors
func cp_bulk_errors(h C.uint64_t, tapeOut **C.char, tapeLen *C.int64_t) C.int64_t {
	*tapeOut, *tapeLen = nil, 0
	b := lookupBulk(h)
	if b == nil {
		return 0
	}
	errs := b.TakeErrors()
	if len(errs) == 0 {
		return 0
	}
	t := engine.Tape{Grow: cGrow}
	for _, e := range errs {
		t.PutInt(engine.KindInt, e.Index)
		if e.Command == nil {
			t.PutNil()
		} else {
			t.PutBytes(engine.KindBulk, e.Command)
		}
		t.PutBytes(engine.KindError, []byte(e.Msg))
	}
	*tapeOut, *tapeLen = handOver(t.Buf)
	return C.int64_t(len(errs))
}

// cp_bulk_replies takes the replies read so far (kept replies only), one
// tape entry each. Returns how many.
//
//export cp_bulk_replies
func cp_bulk_replies(h C.uint64_t, tapeOut **C.char, tapeLen *C.int64_t) C.int64_t {
	*tapeOut, *tapeLen = nil, 0
	b := lookupBulk(h)
	if b == nil {
		return 0
	}
	buf, n := b.TakeReplies()
	*tapeOut, *tapeLen = handOver(buf)
	return C.int64_t(n)
}

// cp_bulk_close closes the connection (what is unanswered is abandoned)
// and forgets h.
//
//export cp_bulk_close
func cp_bulk_close(h C.uint64_t) {
	if v, ok := handles.LoadAndDelete(uint64(h)); ok {
		if b, ok := v.(*engine.Bulk); ok {
			b.Close()
			buf, _ := b.TakeReplies()
			freeC(buf) // replies nobody took
		}
	}
}
