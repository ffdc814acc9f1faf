package engine

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A cluster of 3 primaries with a replica each; nodeTimeout (ms) is how
// long a dead primary goes unnoticed before its replica takes over.
func redisClusterReplicated(t *testing.T, nodeTimeout int) []Options {
	t.Helper()
	dir := t.TempDir()
	var nodes []Options
	var addrs []string
	for i := 0; i < 6; i++ {
		o := redisServer(t, "--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("%s/nodes-%d.conf", dir, i),
			"--dir", dir, "--cluster-node-timeout", strconv.Itoa(nodeTimeout), "--cluster-port", strconv.Itoa(freePort(t)))
		nodes = append(nodes, o)
		addrs = append(addrs, o.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, o := range nodes {
		o := o
		waitFor(t, 30*time.Second, "cluster_state:ok with every replica known", func() bool {
			info := clusterInfo(t, o)
			return strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:6")
		})
	}
	// Every replica attached and in sync, so a write WAITed for is on it.
	waitFor(t, 30*time.Second, "every primary to have its replica", func() bool {
		c := NewCluster(nodes[0], seedsOf(nodes[:1]), 1, false)
		defer c.Close()
		if c.Refresh() != nil {
			return false
		}
		for _, s := range []int{0, 8000, 16383} {
			if len(c.Slots().Slots[s]) != 2 {
				return false
			}
		}
		return true
	})
	return nodes
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func commandCalls(t *testing.T, o Options, name string) int {
	v := nodeCommand(t, o, "INFO", "commandstats")
	s, _ := v.(bulkV)
	for _, line := range strings.Split(string(s), "\n") {
		if strings.HasPrefix(line, "cmdstat_"+name+":calls=") {
			n, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(line, "cmdstat_"+name+":calls="), ",", 2)[0])
			return n
		}
	}
	return 0
}

func TestClusterFailoverRetriesOnThePromotedReplica(t *testing.T) {
	// 3 s: the map names the dead primary for seconds, and commands keep
	// retrying it (more than any redirect limit) until the promotion.
	nodes := redisClusterReplicated(t, 3000)
	o := nodes[0]
	o.SocketTimeout = 20 * time.Second // the failover window
	c := NewCluster(o, seedsOf(nodes), 1, true)
	defer c.Close()
	c.RefreshEvery(200 * time.Millisecond)

	key := "failover-key"
	slot := KeySlot([]byte(key))
	if got := mustArgs(t, c, "SET", key, "before"); got != simpleV("OK") {
		t.Fatalf("SET: %v", got)
	}
	primary, _ := c.Slots().Primary(slot)
	replica := c.Slots().Nodes[c.Slots().Slots[slot][1]]
	// Every key of that primary's shard, each with its own value, for the
	// writers below to read back: no reply may be another command's.
	var keys []string
	for i := 0; len(keys) < 20; i++ {
		k := fmt.Sprintf("{%s}:%d", key, i)
		keys = append(keys, k)
		mustArgs(t, c, "SET", k, k)
	}
	if n := nodeCommand(t, nodeByPort(nodes, primary.Port), "WAIT", "1", "5000"); n != int64(1) {
		t.Fatalf("WAIT: %v", n)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[(w*7+i)%len(keys)]
				var out Tape
				if err := c.DoArgs(argv("GET", k), &out); err != nil {
					errs <- fmt.Errorf("GET %s during the failover: %v", k, err)
					return
				}
				if v := mustDecode(t, out.Buf)[0]; v != bulkV(k) {
					errs <- fmt.Errorf("GET %s answered %v", k, v)
					return
				}
			}
		}(w)
	}
	time.Sleep(100 * time.Millisecond)
	// The primary dies; its replica is promoted after the node timeout.
	g := NewGroup(nodeByPort(nodes, primary.Port), 1, false)
	g.Do(request(cmd("SHUTDOWN", "NOSAVE")), false, 0)
	g.Close()

	start := time.Now()
	if got := mustArgs(t, c, "GET", key); got != bulkV("before") {
		t.Fatalf("GET after the primary died: %v", got)
	}
	t.Logf("answered %v after the primary died", time.Since(start))
	if got := mustArgs(t, c, "SET", key, "after"); got != simpleV("OK") {
		t.Fatalf("SET after the failover: %v", got)
	}
	if now, _ := c.Slots().Primary(slot); now.Addr() != replica.Addr() {
		t.Fatalf("slot %d is served by %s, not the promoted replica %s", slot, now.Addr(), replica.Addr())
	}
	if got := nodeCommand(t, nodeByPort(nodes, replica.Port), "GET", key); got != bulkV("after") {
		t.Fatalf("the write is not on the promoted replica: %v", got)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestClusterReplicaReadsAndPeriodicRefresh(t *testing.T) {
	nodes := redisClusterReplicated(t, 1000)
	c := NewCluster(nodes[0], seedsOf(nodes[:1]), 1, true)
	defer c.Close()
	c.SetReplicaReads(ReadRoundRobinReplicas)
	c.RefreshEvery(100 * time.Millisecond)

	var keys []string
	for i := 0; i < 30; i++ {
		k := fmt.Sprintf("rr:%d", i)
		keys = append(keys, k)
		mustArgs(t, c, "SET", k, k)
	}
	for _, n := range c.Slots().Nodes {
		if n.Primary {
			nodeCommand(t, nodeByPort(nodes, n.Port), "WAIT", "1", "5000")
		}
	}
	replicaGets := func() (sum int) {
		for _, n := range c.Slots().Nodes {
			if !n.Primary {
				sum += commandCalls(t, nodeByPort(nodes, n.Port), "get")
			}
		}
		return sum
	}
	before := replicaGets()
	for _, k := range keys {
		// A replica answers a read only on a READONLY connection (else MOVED).
		if got := mustArgs(t, c, "GET", k); got != bulkV(k) {
			t.Fatalf("GET %s: %v", k, got)
		}
	}
	if n := replicaGets() - before; n != len(keys) {
		t.Fatalf("replicas served %d of %d GETs", n, len(keys))
	}
	// A write still goes to the primary.
	if got := mustArgs(t, c, "INCR", "rr:n"); got != int64(1) {
		t.Fatalf("INCR: %v", got)
	}

	// The periodic refresh: an empty slot handed to another primary shows
	// in the map with no command sent for it.
	slot := KeySlot([]byte("nobody-here"))
	owner, _ := c.Slots().Primary(slot)
	var target ClusterNode
	for _, n := range c.Slots().Nodes {
		if n.Primary && n.Addr() != owner.Addr() {
			target = n
			break
		}
	}
	for _, n := range c.Slots().Nodes {
		if n.Primary {
			nodeCommand(t, nodeByPort(nodes, n.Port), "CLUSTER", "SETSLOT", fmt.Sprint(slot), "NODE", target.ID)
		}
	}
	waitFor(t, 10*time.Second, "the periodic refresh to see the moved slot", func() bool {
		p, _ := c.Slots().Primary(slot)
		return p.Addr() == target.Addr()
	})
}

func TestClusterTransactionAndParseCommands(t *testing.T) {
	nodes := redisCluster(t, 3)
	c := NewCluster(nodes[0], seedsOf(nodes), 1, true)
	defer c.Close()
	var out Tape
	err := c.DoTransaction([][][]byte{argv("SET", "{t}a", "1"), argv("INCR", "{t}a"), argv("PING")}, &out)
	if err != nil {
		t.Fatal(err)
	}
	got := mustDecode(t, out.Buf)
	want := []any{simpleV("OK"), simpleV("QUEUED"), simpleV("QUEUED"), simpleV("QUEUED"), []any{simpleV("OK"), int64(2), simpleV("PONG")}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("transaction: %v", got)
	}
	var tx *CrossSlotTxError
	if err := c.DoTransaction([][][]byte{argv("SET", "a", "1"), argv("SET", "b", "1")}, &out); err == nil || !asCrossTx(err, &tx) {
		t.Fatalf("transaction across slots: %v", err)
	}
	if v := mustArgs(t, c, "EXISTS", "a", "b"); v != int64(0) {
		t.Fatalf("the refused transaction ran: %v", v)
	}

	cmds, err := ParseCommands(append(cmd("SET", "k", ""), cmd("GET", "k")...), 2)
	if err != nil || len(cmds) != 2 || string(cmds[0][0]) != "SET" || len(cmds[0][2]) != 0 || string(cmds[1][1]) != "k" {
		t.Fatalf("ParseCommands: %q %v", cmds, err)
	}
	for _, bad := range []string{"", "*1\r\n", "*1\r\n$3\r\nGE", "*1\r\n$-1\r\n", "*1\r\n$3\r\nGET\r\nextra", "+OK\r\n"} {
		if _, err := ParseCommands([]byte(bad), 1); err == nil {
			t.Errorf("ParseCommands(%q) accepted", bad)
		}
	}

	// Submit: the completion comes back through the queue, tagged.
	q := NewCompletions(-1)
	req := &Request{N: 1, ID: 42}
	if err := c.Submit(q, req, func(out *Tape) error { return c.Exec(ClusterCall{Slot: -1}, argv("GET", "{t}a"), out) }); err != nil {
		t.Fatal(err)
	}
	var done []*Request
	waitFor(t, 5*time.Second, "the submitted GET", func() bool {
		done = append(done, q.Poll(10*time.Millisecond)...)
		return len(done) == 1
	})
	if done[0].ID != 42 || done[0].Err != nil || mustDecode(t, done[0].Tape.Buf)[0] != bulkV("2") {
		t.Fatalf("completion: id %d err %v", done[0].ID, done[0].Err)
	}
	// A node named by the caller runs the command there, unrouted.
	owner, _ := c.Slots().Primary(KeySlot([]byte("{t}a")))
	out = Tape{}
	if err := c.Exec(ClusterCall{Node: owner.Addr(), Slot: -1}, argv("DBSIZE"), &out); err != nil || mustDecode(t, out.Buf)[0] != int64(1) {
		t.Fatalf("DBSIZE on %s: %v %v", owner.Addr(), err, out.Buf)
	}
}

func asCrossTx(err error, tx **CrossSlotTxError) bool {
	e, ok := err.(*CrossSlotTxError)
	*tx = e
	return ok
}

// The caller's Grow (the bridge's C allocator) may hold only the caller's
// own out tape: an intermediate reply kept in that memory would never be
// freed (nobody is handed it).
func TestClusterAllocatesOnlyTheCallersTapeWithItsGrow(t *testing.T) {
	nodes := redisCluster(t, 3)
	c := NewCluster(nodes[0], seedsOf(nodes[:1]), 1, true)
	defer c.Close()
	mustArgs(t, c, "SET", "{g}k", "v")
	fresh := 0
	grow := func(old []byte, newCap int) []byte {
		if cap(old) == 0 {
			fresh++
		}
		b := make([]byte, len(old), newCap)
		copy(b, old)
		return b
	}
	calls := []func(out *Tape) error{
		func(out *Tape) error { return c.Exec(ClusterCall{Slot: -1}, argv("GET", "{g}k"), out) },
		func(out *Tape) error {
			return c.Exec(ClusterCall{Slot: KeySlot([]byte("{g}k"))}, argv("GET", "{g}k"), out)
		},
		func(out *Tape) error { return c.DoArgs(argv("MGET", "{g}k", "a", "b", "c"), out) },
		func(out *Tape) error { return c.DoPipeline([][][]byte{argv("GET", "{g}k"), argv("GET", "x")}, out) },
		func(out *Tape) error { return c.DoTransaction([][][]byte{argv("GET", "{g}k")}, out) },
	}
	for i, call := range calls {
		fresh = 0
		out := Tape{Grow: grow}
		if err := call(&out); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if fresh != 1 {
			t.Errorf("call %d: %d buffers from the caller's Grow, want 1 (its out tape)", i, fresh)
		}
	}
}
