package engine

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCRC16MatchesTheClusterSpec(t *testing.T) {
	// The cluster spec's check value for its CRC16: "123456789" -> 0x31C3.
	if got := crc16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16 = %#x, want 0x31c3", got)
	}
}

func TestHashTags(t *testing.T) {
	for key, tag := range map[string]string{
		"{user1000}.following": "user1000",
		"foo{}{bar}":           "foo{}{bar}", // empty first tag: whole key
		"foo{{bar}}zap":        "{bar",
		"foo{bar}{zap}":        "bar",
		"plain":                "plain",
		"open{only":            "open{only",
		"}{x}":                 "x",
	} {
		if got := string(hashTag([]byte(key))); got != tag {
			t.Errorf("hashTag(%q) = %q, want %q", key, got, tag)
		}
	}
	if KeySlot([]byte("{a}1")) != KeySlot([]byte("{a}2")) {
		t.Fatal("keys sharing a hash tag landed in different slots")
	}
}

// redisCluster starts n cluster-enabled redis-servers, joins them with
// redis-cli --cluster create (no replicas) and waits for cluster_state:ok.
func redisCluster(t *testing.T, n int) []Options {
	t.Helper()
	dir := t.TempDir()
	var nodes []Options
	var addrs []string
	for i := 0; i < n; i++ {
		// A bus port of its own: the default, port+10000, may be taken.
		o := redisServer(t, "--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("%s/nodes-%d.conf", dir, i), "--dir", dir,
			"--cluster-port", strconv.Itoa(freePort(t)))
		nodes = append(nodes, o)
		addrs = append(addrs, o.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, o := range nodes {
		o := o
		waitFor(t, 20*time.Second, "cluster_state:ok", func() bool {
			return strings.Contains(clusterInfo(t, o), "cluster_state:ok")
		})
	}
	return nodes
}

func clusterInfo(t *testing.T, o Options) string {
	g := NewGroup(o, 1, false)
	defer g.Close()
	req := request(cmd("CLUSTER", "INFO"))
	if err := g.Do(req, false, 0); err != nil {
		return ""
	}
	v := mustDecode(t, req.Tape.Buf)
	s, _ := v[0].(bulkV)
	return string(s)
}

func TestSlotMapFromARealCluster(t *testing.T) {
	nodes := redisCluster(t, 3)
	for _, proto := range []int{RESP2, RESP3} {
		o := nodes[0]
		o.Protocol = proto
		g := NewGroup(o, 1, false)
		defer g.Close()
		shards := request(cmd("CLUSTER", "SHARDS"))
		slots := request(cmd("CLUSTER", "SLOTS"))
		for _, r := range []*Request{shards, slots} {
			if err := g.Do(r, false, 0); err != nil {
				t.Fatal(err)
			}
		}
		fromShards, err := ParseClusterShards(shards.Tape.Buf, "127.0.0.1", false)
		if err != nil {
			t.Fatalf("RESP%d: %v", proto, err)
		}
		fromSlots, err := ParseClusterSlots(slots.Tape.Buf, "127.0.0.1")
		if err != nil {
			t.Fatalf("RESP%d: %v", proto, err)
		}
		for _, m := range []*SlotMap{fromShards, fromSlots} {
			if m.Covered() != SlotCount || len(m.Nodes) != 3 {
				t.Fatalf("RESP%d: %d slots covered by %d nodes: %+v", proto, m.Covered(), len(m.Nodes), m.Nodes)
			}
		}
		for s := 0; s < SlotCount; s++ {
			a, _ := fromShards.Primary(s)
			b, _ := fromSlots.Primary(s)
			if a.Addr() != b.Addr() || a.ID != b.ID || a.ID == "" {
				t.Fatalf("RESP%d slot %d: SHARDS says %+v, SLOTS says %+v", proto, s, a, b)
			}
		}
		// Each key's slot agrees with the server's, and the node the map
		// names for it accepts it (no MOVED).
		for i := 0; i < 200; i++ {
			key := "k" + strconv.Itoa(i)
			if i%3 == 0 {
				key = "{tag" + strconv.Itoa(i%7) + "}" + key
			}
			ks := request(cmd("CLUSTER", "KEYSLOT", key))
			if err := g.Do(ks, false, 0); err != nil {
				t.Fatal(err)
			}
			if got := mustDecode(t, ks.Tape.Buf)[0]; got != int64(KeySlot([]byte(key))) {
				t.Fatalf("KeySlot(%q) = %d, server says %v", key, KeySlot([]byte(key)), got)
			}
			owner, _ := fromShards.Primary(KeySlot([]byte(key)))
			for _, n := range nodes {
				if n.Port != owner.Port {
					continue
				}
				ng := NewGroup(n, 1, false)
				set := request(cmd("SET", key, "v"))
				if err := ng.Do(set, false, 0); err != nil {
					t.Fatal(err)
				}
				ng.Close()
				if got := mustDecode(t, set.Tape.Buf)[0]; got != simpleV("OK") {
					t.Fatalf("SET %q on its slot owner %s: %v", key, owner.Addr(), got)
				}
			}
		}
	}
}

func TestTopologyParsersRejectErrorsAndJunk(t *testing.T) {
	var tape Tape
	tape.PutBytes(KindError, []byte("ERR This instance has cluster support disabled"))
	if _, err := ParseClusterShards(tape.Buf, "h", false); err == nil || !strings.Contains(err.Error(), "cluster support disabled") {
		t.Fatalf("error reply: %v", err)
	}
	tape.Reset()
	tape.PutInt(KindInt, 3)
	if _, err := ParseClusterSlots(tape.Buf, "h"); err == nil {
		t.Fatal("an integer reply parsed as a slot map")
	}
	if _, err := ParseClusterSlots(nil, "h"); err == nil {
		t.Fatal("an empty tape parsed as a slot map")
	}
}

// A TLS cluster's CLUSTER SHARDS names both ports of each node (Redis 7:
// "port" plaintext, "tls-port" TLS): a TLS client must dial tls-port, a
// plaintext one port, and a node with only one of them gives that one.
func TestShardsPortFollowsTheTransport(t *testing.T) {
	node := func(fields ...string) string {
		s := fmt.Sprintf("*%d\r\n", len(fields))
		for _, f := range fields {
			s += fmt.Sprintf("$%d\r\n%s\r\n", len(f), f)
		}
		return s
	}
	reply := "*2\r\n" +
		"*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:8191\r\n$5\r\nnodes\r\n*1\r\n" +
		node("id", "a", "port", "7000", "tls-port", "8000", "ip", "127.0.0.1", "role", "master", "health", "online") +
		"*4\r\n$5\r\nslots\r\n*2\r\n:8192\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n" +
		node("id", "b", "tls-port", "8001", "ip", "127.0.0.1", "role", "master", "health", "online")
	var tape Tape
	var r Reader
	if n, done, _, err := r.Scan([]byte(reply), &tape); err != nil || !done || n != len(reply) {
		t.Fatalf("scan: n=%d/%d done=%v err=%v", n, len(reply), done, err)
	}
	for _, c := range []struct {
		overTLS    bool
		low, upper int
	}{{true, 8000, 8001}, {false, 7000, 8001}} {
		m, err := ParseClusterShards(tape.Buf, "h", c.overTLS)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := m.Primary(0)
		b, _ := m.Primary(SlotCount - 1)
		if a.Port != c.low || b.Port != c.upper {
			t.Fatalf("overTLS=%v: ports %d, %d; want %d, %d", c.overTLS, a.Port, b.Port, c.low, c.upper)
		}
	}
}
