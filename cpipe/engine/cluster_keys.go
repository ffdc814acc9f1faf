package engine

import (
	"fmt"
	"strings"
)

// Key positions come from the server itself (the reply of COMMAND, fetched
// once per cluster client), not from a table kept by hand: each command's
// first key, last key (negative: from the end) and step. A command whose
// keys move with its arguments ("movablekeys": ZUNIONSTORE's numkeys,
// XREAD's STREAMS, SORT's STORE ...) is marked so; KeyPositions reports it
// as unknown and the caller asks COMMAND GETKEYS or names a target node.

type commandKeys struct {
	first, last, step int
	movable           bool
	readonly          bool                   // "readonly" flag: may run on a replica
	subcommands       map[string]commandKeys // container commands (Redis 7)
}

// KeyTable maps lower-case command names to their key positions.
type KeyTable struct{ commands map[string]commandKeys }

func parseCommandEntry(v tapeValue) (string, commandKeys, error) {
	if v.kind != KindArray || len(v.list) < 6 {
		return "", commandKeys{}, fmt.Errorf("COMMAND: %w", errTopology)
	}
	name := strings.ToLower(v.list[0].str)
	first, ok1 := v.list[3].int()
	last, ok2 := v.list[4].int()
	step, ok3 := v.list[5].int()
	if !ok1 || !ok2 || !ok3 {
		return "", commandKeys{}, fmt.Errorf("COMMAND %s: %w", name, errTopology)
	}
	ck := commandKeys{first: int(first), last: int(last), step: int(step)}
	for _, f := range v.list[2].list {
		if strings.EqualFold(f.str, "movablekeys") {
			ck.movable = true
		}
		if strings.EqualFold(f.str, "readonly") {
			ck.readonly = true
		}
	}
	if len(v.list) > 9 && len(v.list[9].list) > 0 {
		ck.subcommands = map[string]commandKeys{}
		for _, sub := range v.list[9].list {
			subName, sk, err := parseCommandEntry(sub)
			if err != nil {
				return "", commandKeys{}, err
			}
			// Reported as "container|sub".
			if i := strings.IndexByte(subName, '|'); i >= 0 {
				subName = subName[i+1:]
			}
			ck.subcommands[subName] = sk
		}
	}
	return name, ck, nil
}

// ParseCommandTable reads the reply tape of COMMAND (or COMMAND INFO).
func ParseCommandTable(tape []byte) (*KeyTable, error) {
	v, err := firstReply(tape, "COMMAND")
	if err != nil {
		return nil, err
	}
	t := &KeyTable{commands: make(map[string]commandKeys, len(v.list))}
	for _, e := range v.list {
		if e.kind == KindNil {
			continue // COMMAND INFO of an unknown name
		}
		name, ck, err := parseCommandEntry(e)
		if err != nil {
			return nil, err
		}
		t.commands[name] = ck
	}
	return t, nil
}

// Has reports whether the server knows the command (lower-case name).
func (t *KeyTable) Has(name string) bool {
	_, ok := t.commands[name]
	return ok
}

// ReadOnly reports whether the server flags args' command "readonly"
// (GET, MGET, ZRANGE ...): such a command may go to a replica.
func (t *KeyTable) ReadOnly(args [][]byte) bool {
	if len(args) == 0 {
		return false
	}
	ck, ok := t.commands[strings.ToLower(string(args[0]))]
	if ck.subcommands != nil && len(args) > 1 {
		if sk, ok := ck.subcommands[strings.ToLower(string(args[1]))]; ok {
			ck = sk
		}
	}
	return ok && ck.readonly
}

// KeyPositions returns the indexes in args (args[0] being the command
// name) that hold keys. known is false for a command the server did not
// list or whose keys move with its arguments; an empty, known result means
// the command has no keys (route it to any node, or as the caller says).
func (t *KeyTable) KeyPositions(args [][]byte) (pos []int, known bool) {
	if len(args) == 0 {
		return nil, false
	}
	ck, ok := t.commands[strings.ToLower(string(args[0]))]
	if !ok {
		return nil, false
	}
	if ck.subcommands != nil && len(args) > 1 {
		if sk, ok := ck.subcommands[strings.ToLower(string(args[1]))]; ok {
			ck = sk
		}
	}
	if ck.movable {
		return nil, false
	}
	if ck.first <= 0 || ck.step <= 0 {
		return nil, true
	}
	last := ck.last
	if last < 0 {
		last = len(args) + last
	}
	if last >= len(args) {
		last = len(args) - 1
	}
	for i := ck.first; i <= last; i += ck.step {
		pos = append(pos, i)
	}
	return pos, true
}

// CommandSlot is the one slot all of args' keys hash to. keyless is true
// for a command with no keys; cross is true when its keys span slots
// (redis-py raises RedisClusterException before sending such a command).
func (t *KeyTable) CommandSlot(args [][]byte) (slot int, keyless, cross, known bool) {
	pos, known := t.KeyPositions(args)
	if !known {
		return 0, false, false, false
	}
	if len(pos) == 0 {
		return 0, true, false, true
	}
	slot = KeySlot(args[pos[0]])
	for _, p := range pos[1:] {
		if KeySlot(args[p]) != slot {
			return slot, false, true, true
		}
	}
	return slot, false, false, true
}
