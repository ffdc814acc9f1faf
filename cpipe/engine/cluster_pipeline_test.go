package engine

import (
	"fmt"
	"strconv"
	"testing"
)

func TestClusterPipelineOf100000Commands(t *testing.T) {
	nodes := redisCluster(t, 3)
	c := NewCluster(nodes[0], seedsOf(nodes), 1, true)
	defer c.Close()
	const n = 100000
	sets := make([][][]byte, n)
	gets := make([][][]byte, n)
	for i := range sets {
		k := "p:" + strconv.Itoa(i)
		sets[i] = argv("SET", k, strconv.Itoa(i))
		gets[i] = argv("GET", k)
	}
	var out Tape
	if err := c.DoPipeline(sets, &out); err != nil {
		t.Fatal(err)
	}
	for i, v := range mustDecode(t, out.Buf) {
		if v != simpleV("OK") {
			t.Fatalf("SET %d: %v", i, v)
		}
	}
	out.Reset()
	if err := c.DoPipeline(gets, &out); err != nil {
		t.Fatal(err)
	}
	got := mustDecode(t, out.Buf)
	if len(got) != n {
		t.Fatalf("%d replies", len(got))
	}
	for i, v := range got {
		if v != bulkV(strconv.Itoa(i)) {
			t.Fatalf("GET p:%d = %v: a reply out of order", i, v)
		}
	}
	// Every node took part.
	for _, o := range nodes {
		if got := nodeCommand(t, o, "DBSIZE"); got.(int64) < n/5 {
			t.Fatalf("%s holds only %v keys", o.Addr(), got)
		}
	}
}

func TestClusterPipelineResendsOnlyRedirectedCommands(t *testing.T) {
	nodes := redisCluster(t, 3)
	c := NewCluster(nodes[0], seedsOf(nodes), 1, true)
	defer c.Close()
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	// Move the (empty) slot of "{m}" to another node behind the client's
	// back; the pipeline sends its commands to the old owner first.
	slot := KeySlot([]byte("m"))
	owner, _ := c.Slots().Primary(slot)
	var target ClusterNode
	for _, n := range c.Slots().Nodes {
		if n.Primary && n.Addr() != owner.Addr() {
			target = n
		}
	}
	for _, o := range nodes {
		nodeCommand(t, o, "CLUSTER", "SETSLOT", strconv.Itoa(slot), "NODE", target.ID)
	}
	var cmds [][][]byte
	for i := 0; i < 30; i++ {
		cmds = append(cmds, argv("INCR", fmt.Sprintf("{m}%d", i%3)), argv("INCR", fmt.Sprintf("other:%d", i)))
	}
	var out Tape
	if err := c.DoPipeline(cmds, &out); err != nil {
		t.Fatal(err)
	}
	got := mustDecode(t, out.Buf)
	for i := 0; i < 30; i++ {
		// INCR ran exactly once per command: {m}0..2 count 1..10.
		if got[2*i] != int64(i/3+1) || got[2*i+1] != int64(1) {
			t.Fatalf("command %d: %v, %v", i, got[2*i], got[2*i+1])
		}
	}
	if v := nodeCommand(t, nodeByPort(nodes, target.Port), "GET", "{m}0"); v != bulkV("10") {
		t.Fatalf("{m}0 on the new owner: %v", v)
	}
}
