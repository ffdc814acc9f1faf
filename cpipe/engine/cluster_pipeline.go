package engine

import (
	"strings"
	"sync"
	"time"
)

// A cluster pipeline: commands grouped by the node owning their slot, one
// request per node, all nodes written and read in parallel goroutines,
// replies put back in the caller's order. A command answered MOVED, ASK,
// TRYAGAIN or CLUSTERDOWN is re-sent alone (following its redirect), so
// only the affected commands run twice; everything else keeps its first
// reply.

type pipelineCommand struct {
	slot  int
	reply []byte // its tape entry, once answered
}

// DoPipeline runs commands (each an argument list) and appends one reply
// entry per command to out, in order. A command whose keys span slots or
// cannot be told fails the whole pipeline before anything is sent.
func (c *Cluster) DoPipeline(commands [][][]byte, out *Tape) error {
	t, err := c.KeyTable()
	if err != nil {
		return err
	}
	cmds := make([]pipelineCommand, len(commands))
	keylessSlot := -1
	for i, args := range commands {
		if len(args) == 0 {
			return &UnknownKeysError{Command: "(empty command)"}
		}
		slot, keyless, cross, err := c.slotOf(t, args)
		switch {
		case err != nil:
			return err
		case cross:
			return &CrossSlotError{Command: strings.ToUpper(string(args[0]))}
		case keyless:
			if keylessSlot < 0 {
				if keylessSlot, err = c.randomPrimary(); err != nil {
					return err
				}
			}
			slot = keylessSlot
		}
		cmds[i].slot = slot
	}
	// Group by node. The owner is looked up once per distinct slot (primaryOf
	// takes the router's lock and builds the address string), and each node's
	// index list and request buffer are sized exactly before they are filled:
	// per-command allocations were most of the engine's cost in a pipeline
	// of 10,000 (growslice, mallocgc and GC in the profile).
	nodeOfSlot := map[int]int{}
	var order []string
	var counts, sizes []int
	nodes := make([]int, len(cmds))
	for i := range cmds {
		n, ok := nodeOfSlot[cmds[i].slot]
		if !ok {
			addr, err := c.primaryOf(cmds[i].slot)
			if err != nil {
				return err
			}
			n = indexOf(order, addr)
			if n < 0 {
				n = len(order)
				order = append(order, addr)
				counts, sizes = append(counts, 0), append(sizes, 0)
			}
			nodeOfSlot[cmds[i].slot] = n
		}
		nodes[i] = n
		counts[n]++
		sizes[n] += respSize(commands[i])
	}
	byNode := make([][]int, len(order))
	for n := range byNode {
		byNode[n] = make([]int, 0, counts[n])
	}
	for i, n := range nodes {
		byNode[n] = append(byNode[n], i)
	}
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for n, addr := range order {
		wg.Add(1)
		go func(n int, addr string, idx []int) {
			defer wg.Done()
			errs[n] = c.sendToNode(addr, idx, sizes[n], commands, cmds)
		}(n, addr, byNode[n])
	}
	wg.Wait()
	for n, err := range errs {
		if err != nil && !nodeLost(err) {
			return err
		}
		if err != nil {
			// The node is gone: its commands are sent again one by one
			// to their slots' new owners (see resendRedirected).
			for _, i := range byNode[n] {
				cmds[i].reply = nil
			}
		}
	}
	if err := c.resendRedirected(commands, cmds); err != nil {
		return err
	}
	total := 0
	for i := range cmds {
		total += len(cmds[i].reply)
	}
	dst := out.Reserve(total) // one copy into the caller's tape, no regrowth
	for i := range cmds {
		dst = dst[copy(dst, cmds[i].reply):]
	}
	return nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// sendToNode sends the commands idx (size bytes encoded) as one request to
// addr and keeps each one's reply entry.
func (c *Cluster) sendToNode(addr string, idx []int, size int, commands [][][]byte, cmds []pipelineCommand) error {
	g, err := c.group(addr)
	if err != nil {
		return err
	}
	data := make([]byte, 0, size) // size: the commands' encoded length, so no regrowth
	for _, i := range idx {
		data = appendRESP(data, commands[i])
	}
	req := &Request{Data: data, N: len(idx), Batch: true}
	if err := g.Do(req, false, 0); err != nil {
		return err
	}
	if req.Err != nil {
		return req.Err
	}
	b := req.Tape.Buf
	for _, i := range idx {
		rest := skipEntry(b)
		cmds[i].reply = b[:len(b)-len(rest)]
		b = rest
	}
	return nil
}

// resendRedirected re-sends, one at a time in the caller's order, the
// commands whose reply was a redirect or a retryable cluster error (as
// redis-py's ClusterPipeline does): commands on one key keep their order.
func (c *Cluster) resendRedirected(commands [][][]byte, cmds []pipelineCommand) error {
	for i := range cmds {
		r := parseRedirect(cmds[i].reply)
		if cmds[i].reply == nil {
			r.kind = "LOST"
		}
		if r.kind == "" {
			continue
		}
		req := &Request{Data: encodeArgs(commands[i]), N: 1}
		var err error
		switch r.kind {
		case "MOVED":
			c.movedTo(r.slot, r.addr)
			err = c.follow(cmds[i].slot, r.addr, false, false, req, callOpts{})
		case "ASK":
			err = c.follow(cmds[i].slot, r.addr, false, true, req, callOpts{})
		case "LOST":
			c.refreshUnlessFresh(minRefreshGap)
			err = c.DoSlot(cmds[i].slot, req)
		default: // TRYAGAIN, CLUSTERDOWN
			time.Sleep(10 * time.Millisecond)
			err = c.DoSlot(cmds[i].slot, req)
		}
		if err == nil {
			err = req.Err
		}
		if err != nil {
			return err
		}
		cmds[i].reply = req.Tape.Buf
	}
	return nil
}
