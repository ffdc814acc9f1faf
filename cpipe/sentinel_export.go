package main

// Entry points for Sentinel (engine.Sentinel, engine.SentinelTarget);
// bridge_sentinel.c is their Python side. The ownership rules of main.go
// hold: pointers passed in are borrowed for the call, a tape returned
// through tape_out is malloc'd C memory the caller frees, handles are
// integers and an unknown or closed one is CP_CLOSED.

/*
#include <stdint.h>

// Statuses of a Sentinel that found no master (redis-py's
// MasterNotFoundError) or no replica (SlaveNotFoundError); both are
// connection errors to anyone who does not know them.
enum {
	CP_NO_MASTER = 9,
	CP_NO_REPLICA = 10,
};
*/
import "C"

import (
	"errors"
	"unsafe"

	"cpipe/cpipe/engine"
)

func lookupSentinel(h C.uint64_t) *engine.Sentinel {
	s, _ := load(h).(*engine.Sentinel)
	return s
}

// sentinelStatus is statusOf for a Sentinel's errors.
func sentinelStatus(err error) (C.int, bool) {
	var se *engine.SentinelError
	if !errors.As(err, &se) {
		return 0, false
	}
	if se.NoReplica {
		return C.CP_NO_REPLICA, true
	}
	return C.CP_NO_MASTER, true
}

// releasedTarget serves a resolver handle that is unknown (released): its
// groups find no server.
var releasedTarget = engine.NewSentinel(nil, 0, "").Target("(released)", false)

// resolverOf is the Resolver of a client whose options name target h
// (options.h resolver); nil for 0.
func resolverOf(h C.uint64_t) engine.Resolver {
	if h == 0 {
		return nil
	}
	if t, ok := load(h).(*engine.SentinelTarget); ok {
		return t
	}
	return releasedTarget
}

// cp_sentinel_open makes a Sentinel over the n groups of nodes (one per
// sentinel, opened with cp_open and each sentinel's connection options),
// which it takes over: their handles are forgotten, and closing the
// Sentinel closes them. min_other is redis-py's min_other_sentinels;
// force_ip (force_len bytes, 0: none) its force_master_ip. Returns 0 if a
// handle is unknown (nothing is taken then).
//
//export cp_sentinel_open
func cp_sentinel_open(nodes *C.uint64_t, n C.int, minOther C.int, forceIP *C.char, forceLen C.int) C.uint64_t {
	hs := unsafe.Slice((*C.uint64_t)(unsafe.Pointer(nodes)), int(n))
	groups := make([]*engine.Group, 0, len(hs))
	for _, h := range hs {
		g := lookup(h)
		if g == nil {
			return 0
		}
		groups = append(groups, g)
	}
	for _, h := range hs {
		handles.Delete(uint64(h))
	}
	return register(engine.NewSentinel(groups, int(minOther), goString(forceIP, int(forceLen))))
}

// cp_sentinel_target makes the resolver for service name's master (or,
// with replica, its replicas): a handle for options.h's resolver, kept
// until cp_sentinel_release. 0 if h is unknown.
//
//export cp_sentinel_target
func cp_sentinel_target(h C.uint64_t, name *C.char, nameLen C.int, replica C.int) C.uint64_t {
	s := lookupSentinel(h)
	if s == nil {
		return 0
	}
	return register(s.Target(goString(name, int(nameLen)), replica != 0))
}

// cp_sentinel_release forgets a target: groups opened with it keep it
// until they are closed, but no new one can name it.
//
//export cp_sentinel_release
func cp_sentinel_release(h C.uint64_t) {
	if v, ok := handles.LoadAndDelete(uint64(h)); ok {
		if t, ok := v.(*engine.SentinelTarget); ok {
			t.Release()
		}
	}
}

// cp_sentinel_close stops the +switch-master listener, closes the
// sentinels' connections and forgets h.
//
//export cp_sentinel_close
func cp_sentinel_close(h C.uint64_t) {
	if v, ok := handles.LoadAndDelete(uint64(h)); ok {
		if s, ok := v.(*engine.Sentinel); ok {
			s.Close()
		}
	}
}

// cp_sentinel_discover asks for service name's master (a tape array: bulk
// ip, int port) or, with replicas, its replicas up (an array of such
// arrays, maybe empty). No master is CP_NO_MASTER with redis-py's message.
// interruptible is as for cp_exec.
//
//export cp_sentinel_discover
func cp_sentinel_discover(h C.uint64_t, name *C.char, nameLen C.int, replicas, interruptible C.int,
	tapeOut **C.char, tapeLen *C.int64_t, errbuf *C.char, errcap C.int) C.int {
	*tapeOut, *tapeLen = nil, 0
	s := lookupSentinel(h)
	if s == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	var hook func() bool
	if interruptible != 0 {
		hook = bridgeInterrupted
	}
	service := goString(name, int(nameLen))
	t := engine.Tape{Grow: cGrow}
	put := func(a engine.Addr) {
		t.PutInt(engine.KindArray, 2)
		t.PutBytes(engine.KindBulk, []byte(a.Host))
		t.PutInt(engine.KindInt, int64(a.Port))
	}
	if replicas != 0 {
		list, err := s.DiscoverReplicas(service, hook)
		if err != nil {
			return report(err, errbuf, errcap)
		}
		t.PutInt(engine.KindArray, int64(len(list)))
		for _, a := range list {
			put(a)
		}
	} else {
		a, err := s.DiscoverMaster(service, hook)
		if err != nil {
			return report(err, errbuf, errcap)
		}
		put(a)
	}
	*tapeOut, *tapeLen = handOver(t.Buf)
	return statusOf(nil)
}
