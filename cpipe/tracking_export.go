package main

// Client-side caching's entry points (engine/tracking.go). The host cache
// lives in the bridge's memory and Python; the engine feeds it.
//
// Ownership:
//   - counter (cp_tracking_sink_open) is C memory, 8-byte aligned, that the
//     bridge allocated; the engine bumps it atomically until
//     cp_tracking_sink_close returns, and never touches it after: the
//     bridge frees it then.
//   - A tape returned by cp_tracking_drain is C memory the caller frees.

/*
#include <stdint.h>
*/
import "C"

import (
	"encoding/binary"
	"unsafe"

	"cpipe/cpipe/engine"
)

func lookupSink(h C.uint64_t) *engine.TrackingSink {
	s, _ := load(h).(*engine.TrackingSink)
	return s
}

// cp_tracking_sink_open creates the engine's side of one host cache:
// invalidated keys queue there, at most max_keys keys and max_bytes bytes
// (0: the engine's defaults; past a bound the queue is dropped and the host
// told to flush everything), and *counter is bumped after every change.
//
//export cp_tracking_sink_open
func cp_tracking_sink_open(counter *C.uint64_t, maxKeys, maxBytes C.int64_t) C.uint64_t {
	return register(engine.NewTrackingSink(unsafe.Pointer(counter), int(maxKeys), int(maxBytes)))
}

// cp_tracking_sink_close forgets sink h; once it returns the engine never
// writes the sink's counter again.
//
//export cp_tracking_sink_close
func cp_tracking_sink_close(h C.uint64_t) {
	if v, ok := handles.LoadAndDelete(uint64(h)); ok {
		if s, ok := v.(*engine.TrackingSink); ok {
			s.Close()
		}
	}
}

// cp_tracking_attach makes group h's shared connections track the keys
// they read, with invalidations going to sink. It must come before the
// group's first command. bcast: broadcast mode, for the keys under the
// nprefixes prefixes packed in prefixes (each an 8-byte little-endian
// length, then its bytes; none: every key). CP_CLOSED for an unknown
// handle.
//
//export cp_tracking_attach
func cp_tracking_attach(h, sink C.uint64_t, bcast C.int, prefixes *C.char, prefixesLen C.int64_t, nprefixes C.int64_t) C.int {
	g, s := lookup(h), lookupSink(sink)
	if g == nil || s == nil {
		return 5 // CP_CLOSED (main.go)
	}
	mode := engine.TrackingMode{BCast: bcast != 0}
	packed := goBytes(prefixes, int64(prefixesLen))
	for i := int64(0); i < int64(nprefixes) && len(packed) >= 8; i++ {
		n := int(binary.LittleEndian.Uint64(packed))
		if n < 0 || len(packed) < 8+n {
			break
		}
		mode.Prefixes = append(mode.Prefixes, packed[8:8+n])
		packed = packed[8+n:]
	}
	g.EnableTracking(s, mode)
	return 0 // CP_OK
}

// cp_tracking_drain takes what queued in sink h since the last drain. It
// returns bit 1 when the host may store replies (no tracker is re-pointing
// its connections), bit 2 when it must flush everything, -1 for an unknown
// sink; *tape_out gets *nkeys bulk entries (keys to drop), or NULL.
//
//export cp_tracking_drain
func cp_tracking_drain(h C.uint64_t, tapeOut **C.char, tapeLen *C.int64_t, nkeys *C.int64_t) C.int {
	*tapeOut, *tapeLen, *nkeys = nil, 0, 0
	s := lookupSink(h)
	if s == nil {
		return -1
	}
	ready, flush, keys := s.Drain()
	flags := C.int(0)
	if ready {
		flags |= 1
	}
	if flush {
		flags |= 2
	}
	if len(keys) > 0 {
		t := engine.Tape{Grow: cGrow}
		for _, k := range keys {
			t.PutBytes(engine.KindBulk, k)
		}
		*tapeOut, *tapeLen = handOver(t.Buf)
		*nkeys = C.int64_t(len(keys))
	}
	return flags
}

// cp_tracking_stats writes sink h's counters to out[0..2]: keys the server
// invalidated, flushes, queue overflows. 0, or -1 for an unknown sink.
//
//export cp_tracking_stats
func cp_tracking_stats(h C.uint64_t, out *C.uint64_t) C.int {
	s := lookupSink(h)
	if s == nil {
		return -1
	}
	st := s.Stats()
	o := unsafe.Slice((*uint64)(unsafe.Pointer(out)), 3)
	o[0], o[1], o[2] = st.Invalidations, st.Flushes, st.Overflows
	return 0
}
