package engine

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeCommand runs one command straight on a node, with no routing.
func nodeCommand(t *testing.T, o Options, args ...string) any {
	t.Helper()
	g := NewGroup(o, 1, false)
	defer g.Close()
	return groupValues(t, g, cmd(args...))[0]
}

func clusterDo(t *testing.T, c *Cluster, key string, args ...string) any {
	t.Helper()
	req := request(cmd(args...))
	if err := c.DoSlot(KeySlot([]byte(key)), req); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if req.Err != nil {
		t.Fatalf("%v: %v", args, req.Err)
	}
	return mustDecode(t, req.Tape.Buf)[0]
}

func seedsOf(nodes []Options) []string {
	var s []string
	for _, o := range nodes {
		s = append(s, o.Addr())
	}
	return s
}

func nodeByPort(nodes []Options, port int) Options {
	for _, o := range nodes {
		if o.Port == port {
			return o
		}
	}
	panic(fmt.Sprintf("no node on port %d", port))
}

func TestClusterRoutesMovedAndAsk(t *testing.T) {
	nodes := redisCluster(t, 3)
	c := NewCluster(nodes[0], seedsOf(nodes[:1]), 1, true)
	defer c.Close()

	// Routed by slot: every key lands on its owner, from any goroutine.
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				key := fmt.Sprintf("w%d:k%d", w, i)
				req := request(cmd("SET", key, key))
				if err := c.DoSlot(KeySlot([]byte(key)), req); err != nil || req.Err != nil {
					t.Errorf("SET %s: %v %v", key, err, req.Err)
					return
				}
				if got := mustDecode(t, req.Tape.Buf)[0]; got != simpleV("OK") {
					t.Errorf("SET %s: %v", key, got)
				}
			}
		}(w)
	}
	wg.Wait()
	if got := clusterDo(t, c, "w3:k99", "GET", "w3:k99"); got != bulkV("w3:k99") {
		t.Fatalf("GET: %v", got)
	}

	// MOVED: hand an empty slot to another node behind the client's back.
	key := "moved-key"
	slot := KeySlot([]byte(key))
	owner, _ := c.Slots().Primary(slot)
	var target ClusterNode
	for _, n := range c.Slots().Nodes {
		if n.Primary && n.Addr() != owner.Addr() {
			target = n
			break
		}
	}
	if n := nodeCommand(t, nodeByPort(nodes, owner.Port), "CLUSTER", "COUNTKEYSINSLOT", fmt.Sprint(slot)); n != int64(0) {
		t.Fatalf("slot %d not empty: %v", slot, n)
	}
	for _, o := range nodes {
		if got := nodeCommand(t, o, "CLUSTER", "SETSLOT", fmt.Sprint(slot), "NODE", target.ID); got != simpleV("OK") {
			t.Fatalf("SETSLOT NODE on %s: %v", o.Addr(), got)
		}
	}
	if got := clusterDo(t, c, key, "SET", key, "v"); got != simpleV("OK") {
		t.Fatalf("SET after the slot moved: %v", got)
	}
	if got := nodeCommand(t, nodeByPort(nodes, target.Port), "GET", key); got != bulkV("v") {
		t.Fatalf("the key is not on the slot's new owner: %v", got)
	}
	waitFor(t, 10*time.Second, "the map to follow MOVED", func() bool {
		p, _ := c.Slots().Primary(slot)
		return p.Addr() == target.Addr()
	})

	// ASK: a slot being migrated; a key not yet on the source is asked for
	// on the destination, with ASKING first.
	key = "ask-key"
	slot = KeySlot([]byte(key))
	src, _ := c.Slots().Primary(slot)
	var dst ClusterNode
	for _, n := range c.Slots().Nodes {
		if n.Primary && n.Addr() != src.Addr() {
			dst = n
			break
		}
	}
	srcOpts, dstOpts := nodeByPort(nodes, src.Port), nodeByPort(nodes, dst.Port)
	if got := nodeCommand(t, dstOpts, "CLUSTER", "SETSLOT", fmt.Sprint(slot), "IMPORTING", src.ID); got != simpleV("OK") {
		t.Fatalf("IMPORTING: %v", got)
	}
	if got := nodeCommand(t, srcOpts, "CLUSTER", "SETSLOT", fmt.Sprint(slot), "MIGRATING", dst.ID); got != simpleV("OK") {
		t.Fatalf("MIGRATING: %v", got)
	}
	if got := nodeCommand(t, srcOpts, "GET", key); !strings.HasPrefix(fmt.Sprint(got), "ASK ") {
		t.Fatalf("the source should answer ASK, said %v", got)
	}
	if got := clusterDo(t, c, key, "SET", key, "asked"); got != simpleV("OK") {
		t.Fatalf("SET during migration: %v", got)
	}
	if got := clusterDo(t, c, key, "GET", key); got != bulkV("asked") {
		t.Fatalf("GET during migration: %v", got)
	}
	// The source still has no such key, so it still answers ASK.
	if got := nodeCommand(t, srcOpts, "EXISTS", key); !strings.HasPrefix(fmt.Sprint(got), "ASK ") {
		t.Fatalf("the key went to the source: %v", got)
	}
	// ASK is one-shot: the map still names the source.
	if p, _ := c.Slots().Primary(slot); p.Addr() != src.Addr() {
		t.Fatalf("ASK changed the map: %v", p)
	}
	// A multi-command request on one slot gets its replies in order.
	req := request(cmd("SET", "{p}a", "1"), cmd("INCR", "{p}a"), cmd("GET", "{p}a"))
	if err := c.DoSlot(KeySlot([]byte("{p}a")), req); err != nil {
		t.Fatal(err)
	}
	if got := mustDecode(t, req.Tape.Buf); !reflect.DeepEqual(got, []any{simpleV("OK"), int64(2), bulkV("2")}) {
		t.Fatalf("pipeline on one slot: %v", got)
	}
}

func TestParseRedirect(t *testing.T) {
	var tape Tape
	for msg, want := range map[string]redirect{
		"MOVED 3999 127.0.0.1:6381":       {kind: "MOVED", slot: 3999, addr: "127.0.0.1:6381"},
		"ASK 12 10.0.0.2:7000":            {kind: "ASK", slot: 12, addr: "10.0.0.2:7000"},
		"MOVED 1 :7001":                   {kind: "MOVED", slot: 1, addr: "127.0.0.1:7001"},
		"TRYAGAIN Multiple keys request":  {kind: "TRYAGAIN"},
		"CLUSTERDOWN The cluster is down": {kind: "CLUSTERDOWN"},
		"ERR wrong number of arguments":   {},
		"MOVED junk":                      {},
	} {
		tape.Reset()
		tape.PutBytes(KindError, []byte(msg))
		if got := parseRedirect(tape.Buf); got != want {
			t.Errorf("%q: %+v, want %+v", msg, got, want)
		}
	}
}
