package main

// Entry points for Redis Cluster (engine.Cluster); bridge_cluster.c is
// their Python side. The ownership rules of main.go hold: pointers passed
// in are borrowed for the call (cp_cluster_submit copies its data), a tape
// returned through tape_out is malloc'd C memory the caller frees, handles
// are integers and an unknown or closed one is CP_CLOSED.

/*
#include <stdint.h>

// Statuses of the cluster router: a command it cannot route (keys in
// several slots, keys it cannot tell; redis-py's RedisClusterException),
// a transaction across slots (CrossSlotTransactionError), no node serving
// a slot (ClusterDownError). Nothing was sent for the first two.
enum {
	CP_CLUSTER_KEYS = 11,
	CP_CLUSTER_CROSS_TX = 12,
	CP_CLUSTER_DOWN = 13,
};

// How cp_cluster_exec and cp_cluster_submit run their commands.
enum {
	CP_CLUSTER_ONE = 0,         // one command, routed (or on its node or slot)
	CP_CLUSTER_PIPELINE = 1,    // each command routed, replies in order, errors in place
	CP_CLUSTER_TRANSACTION = 2, // MULTI ... EXEC on the commands' one slot
};
*/
import "C"

import (
	"errors"
	"strings"

	"cpipe/cpipe/engine"
)

func lookupCluster(h C.uint64_t) *engine.Cluster {
	c, _ := load(h).(*engine.Cluster)
	return c
}

// clusterStatus is statusOf for the router's own errors.
func clusterStatus(err error) (C.int, bool) {
	var cs *engine.CrossSlotError
	var uk *engine.UnknownKeysError
	var tx *engine.CrossSlotTxError
	switch {
	case errors.As(err, &tx):
		return C.CP_CLUSTER_CROSS_TX, true
	case errors.As(err, &cs), errors.As(err, &uk):
		return C.CP_CLUSTER_KEYS, true
	case errors.Is(err, engine.ErrClusterDown):
		return C.CP_CLUSTER_DOWN, true
	}
	return 0, false
}

// cp_cluster_open makes a router over the startup nodes seeds (seeds_len
// bytes of "host:port" separated by newlines), connecting to every node
// with the options of group h (opened with cp_open, never used; it is
// closed and forgotten). refresh_every > 0 reloads the slot map that
// often (seconds); replica_reads is engine.ReplicaReads. Returns 0 if h
// is unknown. Nothing connects until the first command.
//
//export cp_cluster_open
func cp_cluster_open(h C.uint64_t, seeds *C.char, seedsLen C.int, refreshEvery C.double, replicaReads C.int) C.uint64_t {
	g := lookup(h)
	if g == nil {
		return 0
	}
	handles.Delete(uint64(h))
	c := engine.NewClusterFrom(g, strings.Fields(goString(seeds, int(seedsLen))))
	g.Close()
	c.SetReplicaReads(engine.ReplicaReads(replicaReads))
	c.RefreshEvery(seconds(refreshEvery))
	return register(c)
}

// clusterRun is what a call of mode runs: the commands of data (ncmds RESP
// arrays), with reply entries appended to out.
func clusterRun(c *engine.Cluster, data []byte, ncmds int, mode C.int, call engine.ClusterCall) func(out *engine.Tape) error {
	return func(out *engine.Tape) error {
		commands, err := engine.ParseCommands(data, ncmds)
		if err != nil {
			return err
		}
		switch mode {
		case C.CP_CLUSTER_PIPELINE:
			if call.Node != "" {
				return errors.New("cluster: a pipeline cannot name a node")
			}
			return c.DoPipeline(commands, out)
		case C.CP_CLUSTER_TRANSACTION:
			return c.DoTransaction(commands, out)
		}
		if len(commands) != 1 {
			return errors.New("cluster: give exactly one command")
		}
		return c.Exec(call, commands[0], out)
	}
}

// repliesOf is how many reply entries a call of mode answers.
func repliesOf(mode C.int, ncmds int) int {
	if mode == C.CP_CLUSTER_TRANSACTION {
		return ncmds + 2 // MULTI's and EXEC's too
	}
	return ncmds
}

// cp_cluster_exec runs ncmds RESP-encoded commands as mode says and waits,
// in the calling thread (the GIL released). node (node_len bytes,
// "host:port"; 0: none) or slot (>= 0; -1: none) names where a single
// command goes. blocking, block_for and interruptible are as for cp_exec.
// The tape holds one entry per command (a transaction: MULTI's, each
// QUEUED, EXEC's).
//
//export cp_cluster_exec
func cp_cluster_exec(h C.uint64_t, data *C.char, dataLen C.int64_t, ncmds C.int64_t, mode C.int,
	node *C.char, nodeLen C.int, slot C.int, blocking C.int, blockFor C.double, interruptible C.int,
	tapeOut **C.char, tapeLen *C.int64_t, errbuf *C.char, errcap C.int) C.int {
	*tapeOut, *tapeLen = nil, 0
	c := lookupCluster(h)
	if c == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	call := engine.ClusterCall{Node: goString(node, int(nodeLen)), Slot: int(slot), Blocking: blocking != 0, BlockFor: blockDuration(blockFor)}
	if interruptible != 0 {
		call.Interrupt = bridgeInterrupted
	}
	t := engine.Tape{Grow: cGrow}
	err := clusterRun(c, borrowBytes(data, int64(dataLen)), int(ncmds), mode, call)(&t)
	if err != nil {
		return report(err, errbuf, errcap)
	}
	*tapeOut, *tapeLen = handOver(t.Buf)
	return statusOf(nil)
}

// cp_cluster_submit is cp_cluster_exec without waiting: the data is
// copied, the completion (tagged id; a batch unless mode is
// CP_CLUSTER_ONE) goes to queue qh and is collected by cp_poll. blocking
// and block_for are as for cp_exec (one command only; it cannot be
// cancelled: it runs until it is answered or times out). It never waits:
// a full queue (engine.MaxOutstanding) is CP_CONNECTION, nothing started.
//
//export cp_cluster_submit
func cp_cluster_submit(h, qh C.uint64_t, data *C.char, dataLen C.int64_t, ncmds C.int64_t, mode C.int,
	node *C.char, nodeLen C.int, slot C.int, blocking C.int, blockFor C.double, id C.uint64_t, errbuf *C.char, errcap C.int) C.int {
	c, q := lookupCluster(h), lookupQueue(qh)
	if c == nil || q == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	call := engine.ClusterCall{Node: goString(node, int(nodeLen)), Slot: int(slot), Blocking: blocking != 0, BlockFor: blockDuration(blockFor)}
	req := &engine.Request{N: repliesOf(mode, int(ncmds)), ID: uint64(id), Batch: mode != C.CP_CLUSTER_ONE}
	run := clusterRun(c, goBytes(data, int64(dataLen)), int(ncmds), mode, call)
	return report(c.Submit(q, req, run), errbuf, errcap)
}

// cp_cluster_nodes describes the slot map (engine.Cluster.NodesTape),
// reloading it first when refresh is set or none is loaded yet.
//
//export cp_cluster_nodes
func cp_cluster_nodes(h C.uint64_t, refresh C.int, tapeOut **C.char, tapeLen *C.int64_t, errbuf *C.char, errcap C.int) C.int {
	*tapeOut, *tapeLen = nil, 0
	c := lookupCluster(h)
	if c == nil {
		return report(engine.ErrClosed, errbuf, errcap)
	}
	t := engine.Tape{Grow: cGrow}
	if err := c.NodesTape(refresh != 0, &t); err != nil {
		return report(err, errbuf, errcap)
	}
	*tapeOut, *tapeLen = handOver(t.Buf)
	return statusOf(nil)
}

// cp_cluster_close stops the periodic refresh, closes every node's
// connections and forgets h.
//
//export cp_cluster_close
func cp_cluster_close(h C.uint64_t) {
	if v, ok := handles.LoadAndDelete(uint64(h)); ok {
		if c, ok := v.(*engine.Cluster); ok {
			c.Close()
		}
	}
}
