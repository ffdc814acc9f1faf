package engine

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
)

// One command through the cluster: its slot from the server's key table,
// keyless commands to a primary, and the multi-key commands redis-py's
// RedisCluster splits (MGET, MSET, DEL, EXISTS, UNLINK, TOUCH) split by
// slot, sent to their nodes in parallel and put back together.

// CrossSlotError is a multi-key command whose keys span slots and which
// cannot be split; nothing was sent. The message is redis-py's.
type CrossSlotError struct{ Command string }

func (e *CrossSlotError) Error() string {
	return e.Command + " - all keys must map to the same key slot"
}

// UnknownKeysError: the server's table does not say where this command's
// keys are (movable keys or an unknown command) and no slot was given.
type UnknownKeysError struct{ Command string }

func (e *UnknownKeysError) Error() string {
	return "cluster: cannot tell the keys of " + e.Command + "; give a target node"
}

// KeyTable returns the server's key table, fetched once (again after a
// failed fetch).
func (c *Cluster) KeyTable() (*KeyTable, error) {
	c.mu.Lock()
	t := c.keys
	c.mu.Unlock()
	if t != nil {
		return t, nil
	}
	addr, err := c.primaryOf(0)
	if err != nil {
		return nil, err
	}
	g, err := c.group(addr)
	if err != nil {
		return nil, err
	}
	req := &Request{Data: clusterCommand("COMMAND"), N: 1}
	if err := g.Do(req, false, 0); err != nil {
		return nil, err
	}
	if req.Err != nil {
		return nil, req.Err
	}
	if t, err = ParseCommandTable(req.Tape.Buf); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.keys = t
	c.mu.Unlock()
	return t, nil
}

// splitStep is how many arguments each key carries in a splittable
// multi-key command (MSET: key value).
var splitStep = map[string]int{"mget": 1, "del": 1, "exists": 1, "unlink": 1, "touch": 1, "mset": 2}

func encodeArgs(args [][]byte) []byte { return appendRESP(nil, args) }

// appendRESP appends args as one RESP array of bulk strings: the one
// encoder of the cluster code's own commands (CLUSTER SHARDS, ASKING, the
// split parts of a multi-key command).
func appendRESP[T string | []byte](b []byte, args []T) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// respSize is the length of appendRESP(nil, args), to size a buffer before
// several commands are appended to it.
func respSize(args [][]byte) int {
	n := 1 + decimalLen(len(args)) + 2
	for _, a := range args {
		n += 1 + decimalLen(len(a)) + 2 + len(a) + 2
	}
	return n
}

func decimalLen(v int) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// randomPrimary is where a keyless command goes when the caller names no
// node (redis-py sends such commands to its default node, a primary).
func (c *Cluster) randomPrimary() (int, error) {
	if _, err := c.primaryOf(0); err != nil {
		return 0, err
	}
	m := c.Slots()
	// Any slot's owner is a primary; a random slot picks primaries in
	// proportion to the slots they serve.
	for tries := 0; tries < 64; tries++ {
		s := rand.Intn(SlotCount)
		if _, ok := m.Primary(s); ok {
			return s, nil
		}
	}
	return 0, ErrClusterDown
}

// DoArgs runs one command, routed, and appends its one reply to out.
func (c *Cluster) DoArgs(args [][]byte, out *Tape) error {
	return c.doArgs(args, out, callOpts{}, nil)
}

func (c *Cluster) doArgs(args [][]byte, out *Tape, o callOpts, interrupt func() bool) error {
	if len(args) == 0 {
		return fmt.Errorf("cluster: empty command")
	}
	t, err := c.KeyTable()
	if err != nil {
		return err
	}
	name := strings.ToLower(string(args[0]))
	slot, keyless, cross, err := c.slotOf(t, args)
	if err != nil {
		return err
	}
	o.read = t.ReadOnly(args)
	switch {
	case keyless:
		if slot, err = c.randomPrimary(); err != nil {
			return err
		}
	case cross:
		step, ok := splitStep[name]
		if !ok || (len(args)-1)%step != 0 {
			return &CrossSlotError{Command: strings.ToUpper(name)}
		}
		return c.doSplit(name, args, step, out, o.read)
	}
	req := &Request{Data: encodeArgs(args), N: 1, Interrupt: interrupt}
	if err := c.doSlot(slot, req, o); err != nil {
		return err
	}
	if req.Err != nil {
		return req.Err
	}
	appendTape(out, req.Tape.Buf)
	return nil
}

func appendTape(out *Tape, entries []byte) {
	copy(out.Reserve(len(entries)), entries)
}

// doSplit sends one sub-command per slot, in parallel, and merges the
// replies: MGET's values in the caller's key order, DEL/EXISTS/UNLINK/
// TOUCH's counts summed, MSET's OK. An error reply from any part is the
// reply (the first in key order), as redis-py would raise it.
func (c *Cluster) doSplit(name string, args [][]byte, step int, out *Tape, read bool) error {
	type part struct {
		slot  int
		items []int // index of each key's group among args[1:]
		req   *Request
		err   error
	}
	var parts []*part
	bySlot := map[int]*part{}
	for i := 0; i*step+1 < len(args); i++ {
		s := KeySlot(args[1+i*step])
		p := bySlot[s]
		if p == nil {
			p = &part{slot: s}
			bySlot[s] = p
			parts = append(parts, p)
		}
		p.items = append(p.items, i)
	}
	var wg sync.WaitGroup
	for _, p := range parts {
		sub := [][]byte{args[0]}
		for _, i := range p.items {
			sub = append(sub, args[1+i*step:1+(i+1)*step]...)
		}
		p.req = &Request{Data: encodeArgs(sub), N: 1}
		wg.Add(1)
		go func(p *part) {
			defer wg.Done()
			if p.err = c.doSlot(p.slot, p.req, callOpts{read: read}); p.err == nil {
				p.err = p.req.Err
			}
		}(p)
	}
	wg.Wait()
	for _, p := range parts {
		if p.err != nil {
			return p.err
		}
	}
	for _, p := range parts {
		if p.req.Tape.Buf[0] == KindError {
			appendTape(out, p.req.Tape.Buf)
			return nil
		}
	}
	switch name {
	case "mset":
		out.PutBytes(KindSimple, []byte("OK"))
	case "mget":
		n := (len(args) - 1) / step
		values := make([][]byte, n)
		for _, p := range parts {
			b := p.req.Tape.Buf
			if b[0] != KindArray || int(leUint64(b[1:])) != len(p.items) {
				return fmt.Errorf("cluster: MGET part answered %d values for %d keys", leUint64(b[1:]), len(p.items))
			}
			b = b[9:]
			for _, i := range p.items {
				rest := skipEntry(b)
				values[i] = b[:len(b)-len(rest)]
				b = rest
			}
		}
		out.PutInt(KindArray, int64(n))
		for _, v := range values {
			appendTape(out, v)
		}
	default:
		var sum int64
		for _, p := range parts {
			b := p.req.Tape.Buf
			if b[0] != KindInt {
				return fmt.Errorf("cluster: %s part answered kind %q, not an integer", strings.ToUpper(name), b[0])
			}
			sum += int64(leUint64(b[1:]))
		}
		out.PutInt(KindInt, sum)
	}
	return nil
}
