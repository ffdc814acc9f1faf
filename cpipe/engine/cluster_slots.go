package engine

import (
	"errors"
	"fmt"
	"strconv"
)

// Redis Cluster's key space: 16384 hash slots, a key's slot being the
// CRC16 (XMODEM variant) of its hash tag, or of the whole key when it has
// none, modulo 16384. This file holds the slot arithmetic and the slot map
// built from CLUSTER SHARDS (Redis 7+) or CLUSTER SLOTS (older servers).

// SlotCount is the number of hash slots in a Redis Cluster.
const SlotCount = 16384

// crc16Table is CRC16-CCITT/XMODEM (polynomial 0x1021, initial value 0,
// no reflection), the variant Redis's cluster spec names.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for j := 0; j < 8; j++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ crc16Table[byte(c>>8)^x]
	}
	return c
}

// hashTag returns the part of key that decides its slot: the bytes between
// the first '{' and the first '}' after it, when that is not empty;
// otherwise the whole key (so "{}x" and "x{" hash whole, as in Redis).
func hashTag(key []byte) []byte {
	for i, c := range key {
		if c != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j == i+1 {
					return key
				}
				return key[i+1 : j]
			}
		}
		return key
	}
	return key
}

// KeySlot is the hash slot of key, as CLUSTER KEYSLOT answers it.
func KeySlot(key []byte) int { return int(crc16(hashTag(key)) & (SlotCount - 1)) }

// ClusterNode is one node of a slot map. Host is what the server reported
// as its endpoint; an empty or "?" endpoint means "the address you asked",
// which ParseClusterSlots/ParseClusterShards fill in from their fallback.
type ClusterNode struct {
	ID      string
	Host    string
	Port    int
	Primary bool
}

// Addr is "host:port", the node's key in a SlotMap's node list.
func (n ClusterNode) Addr() string { return n.Host + ":" + strconv.Itoa(n.Port) }

// SlotMap says which nodes serve each slot: Nodes[Slots[s][0]] is slot s's
// primary, the others its replicas. A slot no shard covers has no entry
// (a nil slice), which a router reports as CLUSTERDOWN-like rather than
// guessing a node.
type SlotMap struct {
	Nodes []ClusterNode
	Slots [SlotCount][]int32
	index map[string]int32
}

func newSlotMap() *SlotMap { return &SlotMap{index: map[string]int32{}} }

// node returns n's index in m.Nodes, adding it the first time. A node seen
// as a replica first and as a primary later is marked primary.
func (m *SlotMap) node(n ClusterNode) int32 {
	if i, ok := m.index[n.Addr()]; ok {
		if n.Primary {
			m.Nodes[i].Primary = true
		}
		if m.Nodes[i].ID == "" {
			m.Nodes[i].ID = n.ID
		}
		return i
	}
	i := int32(len(m.Nodes))
	m.Nodes = append(m.Nodes, n)
	m.index[n.Addr()] = i
	return i
}

// Primary is the address of slot's primary, false when no node serves it.
func (m *SlotMap) Primary(slot int) (ClusterNode, bool) {
	s := m.Slots[slot]
	if len(s) == 0 {
		return ClusterNode{}, false
	}
	return m.Nodes[s[0]], true
}

// Covered counts the slots some node serves (SlotCount when the cluster
// is fully covered).
func (m *SlotMap) Covered() int {
	n := 0
	for _, s := range m.Slots {
		if len(s) > 0 {
			n++
		}
	}
	return n
}

func (m *SlotMap) assign(start, end int64, nodes []int32) error {
	if start < 0 || end >= SlotCount || start > end {
		return fmt.Errorf("cluster: slot range %d-%d out of 0-%d", start, end, SlotCount-1)
	}
	for s := start; s <= end; s++ {
		m.Slots[s] = nodes
	}
	return nil
}

// tapeValue is a tape entry decoded for topology replies, which are small
// and read once per refresh: strings, integers, nil and lists (a RESP3 map
// becomes its flat key, value, ... list, as RESP2 sends it).
type tapeValue struct {
	kind byte
	str  string
	num  int64
	list []tapeValue
}

var errTopology = errors.New("cluster: unexpected topology reply")

func decodeTopology(b []byte) (tapeValue, []byte, error) {
	if len(b) == 0 {
		return tapeValue{}, nil, errTopology
	}
	k := b[0]
	switch k {
	case KindNil:
		return tapeValue{kind: k}, b[1:], nil
	case KindInt, KindBool:
		if len(b) < 9 {
			return tapeValue{}, nil, errTopology
		}
		return tapeValue{kind: KindInt, num: int64(leUint64(b[1:]))}, b[9:], nil
	case KindArray, KindSet, KindPush, KindMap:
		if len(b) < 9 {
			return tapeValue{}, nil, errTopology
		}
		n := int(leUint64(b[1:]))
		if k == KindMap {
			n *= 2
		}
		b = b[9:]
		v := tapeValue{kind: KindArray, list: make([]tapeValue, 0, n)}
		for i := 0; i < n; i++ {
			var e tapeValue
			var err error
			if e, b, err = decodeTopology(b); err != nil {
				return tapeValue{}, nil, err
			}
			v.list = append(v.list, e)
		}
		return v, b, nil
	case KindBulk, KindSimple, KindVerbatim, KindError, KindBigNum:
		if len(b) < 9 || len(b) < 9+int(leUint64(b[1:])) {
			return tapeValue{}, nil, errTopology
		}
		n := int(leUint64(b[1:]))
		s := string(b[9 : 9+n])
		if k == KindVerbatim && len(s) >= 4 {
			s = s[4:]
		}
		if k != KindError {
			k = KindBulk
		}
		return tapeValue{kind: k, str: s}, b[9+n:], nil
	}
	return tapeValue{}, nil, errTopology
}

// firstReply decodes the tape's first entry, turning an error reply into
// a Go error that names the command.
func firstReply(tape []byte, command string) (tapeValue, error) {
	v, _, err := decodeTopology(tape)
	if err != nil {
		return v, fmt.Errorf("%s: %w", command, err)
	}
	if v.kind == KindError {
		return v, fmt.Errorf("%s: %s", command, v.str)
	}
	if v.kind != KindArray {
		return v, fmt.Errorf("%s: %w", command, errTopology)
	}
	return v, nil
}

func (v tapeValue) int() (int64, bool) {
	switch v.kind {
	case KindInt:
		return v.num, true
	case KindBulk:
		n, err := strconv.ParseInt(v.str, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func endpoint(host, fallback string) string {
	if host == "" || host == "?" {
		return fallback
	}
	return host
}

// ParseClusterSlots builds a slot map from a CLUSTER SLOTS reply tape:
// [[start, end, [host, port, id, ...], replica...], ...]. fallbackHost
// stands for nodes whose endpoint is unknown (reported empty or "?").
func ParseClusterSlots(tape []byte, fallbackHost string) (*SlotMap, error) {
	v, err := firstReply(tape, "CLUSTER SLOTS")
	if err != nil {
		return nil, err
	}
	m := newSlotMap()
	for _, r := range v.list {
		if r.kind != KindArray || len(r.list) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS: %w", errTopology)
		}
		start, ok1 := r.list[0].int()
		end, ok2 := r.list[1].int()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("CLUSTER SLOTS: %w", errTopology)
		}
		nodes := make([]int32, 0, len(r.list)-2)
		for i, n := range r.list[2:] {
			if n.kind != KindArray || len(n.list) < 2 {
				return nil, fmt.Errorf("CLUSTER SLOTS: %w", errTopology)
			}
			port, ok := n.list[1].int()
			if !ok {
				return nil, fmt.Errorf("CLUSTER SLOTS: %w", errTopology)
			}
			cn := ClusterNode{Host: endpoint(n.list[0].str, fallbackHost), Port: int(port), Primary: i == 0}
			if len(n.list) > 2 {
				cn.ID = n.list[2].str
			}
			nodes = append(nodes, m.node(cn))
		}
		if err := m.assign(start, end, nodes); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// fields reads a flat name, value, name, value ... list (a RESP2 array or
// a RESP3 map) into a lookup by name.
func fields(v tapeValue) map[string]tapeValue {
	f := make(map[string]tapeValue, len(v.list)/2)
	for i := 0; i+1 < len(v.list); i += 2 {
		f[v.list[i].str] = v.list[i+1]
	}
	return f
}

// ParseClusterShards builds a slot map from a CLUSTER SHARDS reply tape
// (Redis 7+): one entry per shard, with "slots" (start, end pairs) and
// "nodes" (each with id, endpoint/ip, port, role, health). Nodes not
// "online" are left out, so a failed primary is not routed to.
//
// A node of a cluster with TLS (tls-port set; --tls-cluster yes) reports
// both "port" (plaintext, when it has one) and "tls-port": overTLS says
// which one this client dials. Taking "port" over TLS would start a
// handshake on the plaintext port, which never answers it (the connect
// ends in a timeout, not an error).
func ParseClusterShards(tape []byte, fallbackHost string, overTLS bool) (*SlotMap, error) {
	v, err := firstReply(tape, "CLUSTER SHARDS")
	if err != nil {
		return nil, err
	}
	m := newSlotMap()
	for _, shard := range v.list {
		if shard.kind != KindArray {
			return nil, fmt.Errorf("CLUSTER SHARDS: %w", errTopology)
		}
		sf := fields(shard)
		var primary []int32
		var replicas []int32
		for _, n := range sf["nodes"].list {
			nf := fields(n)
			if h := nf["health"].str; h != "" && h != "online" {
				continue
			}
			port, ok := shardNodePort(nf, overTLS)
			if !ok {
				return nil, fmt.Errorf("CLUSTER SHARDS: node without a port")
			}
			host := nf["endpoint"].str
			if host == "" || host == "?" {
				host = nf["ip"].str
			}
			cn := ClusterNode{ID: nf["id"].str, Host: endpoint(host, fallbackHost), Port: int(port), Primary: nf["role"].str == "master"}
			if cn.Primary {
				primary = append(primary, m.node(cn))
			} else {
				replicas = append(replicas, m.node(cn))
			}
		}
		slots := sf["slots"].list
		if len(slots)%2 != 0 {
			return nil, fmt.Errorf("CLUSTER SHARDS: odd slot range list")
		}
		if len(slots) == 0 {
			continue
		}
		if len(primary) != 1 {
			// A shard whose primary is failing over serves nothing until
			// a replica is promoted; its slots stay unassigned.
			continue
		}
		nodes := append(primary, replicas...)
		for i := 0; i < len(slots); i += 2 {
			start, ok1 := slots[i].int()
			end, ok2 := slots[i+1].int()
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("CLUSTER SHARDS: %w", errTopology)
			}
			if err := m.assign(start, end, nodes); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// shardNodePort is the port of a CLUSTER SHARDS node entry a client dials:
// "tls-port" over TLS, "port" in plaintext; a node reporting only the
// other one (TLS-only, or plaintext-only) is given that one, so that the
// connect fails with the transport's own error rather than no route.
func shardNodePort(nf map[string]tapeValue, overTLS bool) (int64, bool) {
	first, second := "port", "tls-port"
	if overTLS {
		first, second = second, first
	}
	if port, ok := nf[first].int(); ok && port > 0 {
		return port, true
	}
	return nf[second].int()
}
