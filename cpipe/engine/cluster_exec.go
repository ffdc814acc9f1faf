package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// What the C entry points (cluster_export.go) ask of a Cluster: commands
// arrive RESP-encoded, as the bridge encodes them for a single server, and
// are read back into argument lists here (the router needs the keys); a
// command may name its node or slot (redis-py's target_nodes and SLOT_ID
// commands); a pipeline may be a transaction; and asynchronous callers
// get their completions through a Completions queue.

// CrossSlotTxError is a transaction whose keys span slots; nothing was
// sent. The message is redis-py's CrossSlotTransactionError's.
type CrossSlotTxError struct{}

func (*CrossSlotTxError) Error() string {
	return "All keys involved in a cluster transaction must map to the same slot"
}

// ClusterCall says where one command goes and how it runs.
type ClusterCall struct {
	Node      string // "host:port": run on that node, unrouted (redis-py's target_nodes)
	Slot      int    // >= 0: on that slot's owner (CLUSTER COUNTKEYSINSLOT ...); -1: by its keys
	Blocking  bool   // BLPOP and the like: a connection of its own
	BlockFor  time.Duration
	Interrupt func() bool
}

// ParseCommands reads n RESP arrays of bulk strings back into argument
// lists; the arguments alias data.
func ParseCommands(data []byte, n int) ([][][]byte, error) {
	out := make([][][]byte, 0, n)
	bad := errors.New("cluster: malformed encoded command")
	line := func() (int, error) {
		i := 1
		for i < len(data) && data[i] != '\r' {
			i++
		}
		if i+1 >= len(data) || data[i+1] != '\n' {
			return 0, bad
		}
		v, err := strconv.Atoi(string(data[1:i]))
		data = data[i+2:]
		if err != nil || v < 0 {
			return 0, bad
		}
		return v, nil
	}
	for k := 0; k < n; k++ {
		if len(data) == 0 || data[0] != '*' {
			return nil, bad
		}
		argc, err := line()
		if err != nil {
			return nil, err
		}
		args := make([][]byte, argc)
		for i := range args {
			if len(data) == 0 || data[0] != '$' {
				return nil, bad
			}
			size, err := line()
			if err != nil || len(data) < size+2 {
				return nil, bad
			}
			args[i] = data[:size:size]
			data = data[size+2:]
		}
		out = append(out, args)
	}
	if len(data) != 0 {
		return nil, bad
	}
	return out, nil
}

// Exec runs one command as call says and appends its reply to out.
func (c *Cluster) Exec(call ClusterCall, args [][]byte, out *Tape) error {
	if len(args) == 0 {
		return fmt.Errorf("cluster: empty command")
	}
	o := callOpts{blocking: call.Blocking, blockFor: call.BlockFor}
	req := &Request{Data: encodeArgs(args), N: 1, Interrupt: call.Interrupt}
	var err error
	switch {
	case call.Node != "":
		var g *Group
		if g, err = c.group(call.Node); err == nil {
			err = g.Do(req, o.blocking, o.blockFor)
		}
	case call.Slot >= 0:
		if call.Slot >= SlotCount {
			return fmt.Errorf("cluster: slot %d out of 0-%d", call.Slot, SlotCount-1)
		}
		err = c.doSlot(call.Slot, req, o)
	default:
		return c.doArgs(args, out, o, call.Interrupt)
	}
	if err == nil {
		err = req.Err
	}
	if err != nil {
		return err
	}
	appendTape(out, req.Tape.Buf)
	return nil
}

// evalKeys are the keys of EVAL, EVALSHA, FCALL and their _RO forms
// (script numkeys key ...), read here rather than asked of the server:
// scripts are common and their key count is right there. ok is false when
// numkeys is not a count the arguments hold.
func evalKeys(args [][]byte) (keys [][]byte, ok bool) {
	if len(args) < 3 {
		return nil, false
	}
	n, err := strconv.Atoi(string(args[2]))
	if err != nil || n < 0 || 3+n > len(args) {
		return nil, false
	}
	return args[3 : 3+n], true
}

var scriptCommands = map[string]bool{"eval": true, "evalsha": true, "eval_ro": true, "evalsha_ro": true, "fcall": true, "fcall_ro": true}

// slotOf is the one slot of args' keys, as KeyTable.CommandSlot, but for
// commands whose keys move with their arguments too: scripts read locally,
// the others through COMMAND GETKEYS (as redis-py does). A script without
// keys is keyless (any primary runs it).
func (c *Cluster) slotOf(t *KeyTable, args [][]byte) (slot int, keyless, cross bool, err error) {
	slot, keyless, cross, known := t.CommandSlot(args)
	if known {
		return slot, keyless, cross, nil
	}
	name := strings.ToLower(string(args[0]))
	var keys [][]byte
	if scriptCommands[name] {
		var ok bool
		if keys, ok = evalKeys(args); !ok {
			return 0, false, false, &UnknownKeysError{Command: strings.ToUpper(name)}
		}
	} else if !t.Has(name) {
		return 0, false, false, &UnknownKeysError{Command: strings.ToUpper(name)}
	} else if keys, err = c.getKeys(args); err != nil {
		return 0, false, false, err
	}
	if len(keys) == 0 {
		return 0, true, false, nil
	}
	slot = KeySlot(keys[0])
	for _, k := range keys[1:] {
		if KeySlot(k) != slot {
			return slot, false, true, nil
		}
	}
	return slot, false, false, nil
}

// getKeys asks a primary which of args are keys (COMMAND GETKEYS). A
// command the server says has no keys is an UnknownKeysError: it needs a
// target node.
func (c *Cluster) getKeys(args [][]byte) ([][]byte, error) {
	slot, err := c.randomPrimary()
	if err != nil {
		return nil, err
	}
	q := append([][]byte{[]byte("COMMAND"), []byte("GETKEYS")}, args...)
	req := &Request{Data: encodeArgs(q), N: 1}
	if err := c.DoSlot(slot, req); err != nil {
		return nil, err
	}
	if req.Err != nil {
		return nil, req.Err
	}
	v, _, err := decodeTopology(req.Tape.Buf)
	if err != nil || v.kind != KindArray {
		return nil, &UnknownKeysError{Command: strings.ToUpper(string(args[0]))}
	}
	keys := make([][]byte, 0, len(v.list))
	for _, k := range v.list {
		keys = append(keys, []byte(k.str))
	}
	return keys, nil
}

// DoTransaction runs commands as MULTI ... EXEC on the owner of their one
// slot and appends the n+2 replies (MULTI's, each QUEUED, EXEC's). Keys
// in more than one slot are a CrossSlotTxError before anything is sent. A
// MOVED answer to the first queued command (the slot moved: EXEC is then
// refused, so nothing ran) sends the whole transaction again to the new
// owner.
func (c *Cluster) DoTransaction(commands [][][]byte, out *Tape) error {
	t, err := c.KeyTable()
	if err != nil {
		return err
	}
	slot := -1
	for _, args := range commands {
		if len(args) == 0 {
			return &UnknownKeysError{Command: "(empty command)"}
		}
		s, keyless, cross, err := c.slotOf(t, args)
		if err != nil {
			return err
		}
		if cross || (!keyless && slot >= 0 && s != slot) {
			return &CrossSlotTxError{}
		}
		if !keyless {
			slot = s
		}
	}
	if slot < 0 {
		if slot, err = c.randomPrimary(); err != nil {
			return err
		}
	}
	data := clusterCommand("MULTI")
	for _, args := range commands {
		data = appendRESP(data, args)
	}
	data = append(data, clusterCommand("EXEC")...)
	addr, err := c.primaryOf(slot)
	if err != nil {
		return err
	}
	for hop := 0; ; hop++ {
		req := &Request{Data: data, N: len(commands) + 2}
		if err := c.follow(slot, addr, false, false, req, callOpts{}); err != nil {
			return err
		}
		if req.Err != nil {
			return req.Err
		}
		if len(commands) > 0 && hop < maxRedirects {
			if r := parseRedirect(skipEntry(req.Tape.Buf)); r.kind == "MOVED" {
				c.movedTo(r.slot, r.addr)
				addr = r.addr
				continue
			}
		}
		appendTape(out, req.Tape.Buf)
		return nil
	}
}

// Submit runs run (which fills req.Tape, req.N replies) in a goroutine
// and reports req to q when it is done; req.ID tags it. The cluster's
// calls may wait for several nodes, so they are never run on the caller's
// thread. A full q (MaxOutstanding commands unanswered) is a ConnError,
// nothing started.
func (c *Cluster) Submit(q *Completions, req *Request, run func(out *Tape) error) error {
	if c.isClosed() {
		return ErrClosed
	}
	if err := q.reserve(req, false); err != nil {
		if err == ErrWouldBlock {
			// Never waited for: the caller is an event loop.
			return &ConnError{fmt.Errorf("cluster: %d commands already wait for replies on this queue (its limit): not sent", MaxOutstanding)}
		}
		return err
	}
	go func() {
		if err := run(&req.Tape); err != nil {
			req.Tape.Buf = req.Tape.Buf[:0]
			req.Err = err
		}
		q.add(req)
	}()
	return nil
}

// NodesTape describes the slot map for the caller: an array of two
// arrays, the nodes (each [host, port, primary 1/0, id]) and the slot
// ranges (each [start, end, node index of the primary, of each replica]).
func (c *Cluster) NodesTape(refresh bool, out *Tape) error {
	if refresh || c.Slots() == nil {
		if err := c.forceRefresh(); err != nil {
			return err
		}
	}
	m := c.Slots()
	out.PutInt(KindArray, 2)
	out.PutInt(KindArray, int64(len(m.Nodes)))
	for _, n := range m.Nodes {
		out.PutInt(KindArray, 4)
		out.PutBytes(KindBulk, []byte(n.Host))
		out.PutInt(KindInt, int64(n.Port))
		primary := int64(0)
		if n.Primary {
			primary = 1
		}
		out.PutInt(KindInt, primary)
		out.PutBytes(KindBulk, []byte(n.ID))
	}
	var ranges [][3]int // start, end, slot whose node list they share
	for s := 0; s < SlotCount; s++ {
		if len(m.Slots[s]) == 0 {
			continue
		}
		if k := len(ranges) - 1; k >= 0 && ranges[k][1] == s-1 && sameNodes(m.Slots[ranges[k][2]], m.Slots[s]) {
			ranges[k][1] = s
			continue
		}
		ranges = append(ranges, [3]int{s, s, s})
	}
	out.PutInt(KindArray, int64(len(ranges)))
	for _, r := range ranges {
		nodes := m.Slots[r[2]]
		out.PutInt(KindArray, int64(2+len(nodes)))
		out.PutInt(KindInt, int64(r[0]))
		out.PutInt(KindInt, int64(r[1]))
		for _, i := range nodes {
			out.PutInt(KindInt, int64(i))
		}
	}
	return nil
}

func sameNodes(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// forceRefresh reloads the map (the caller asked the cluster).
func (c *Cluster) forceRefresh() error { return c.Refresh() }
