package engine

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func argv(args ...string) [][]byte {
	var b [][]byte
	for _, a := range args {
		b = append(b, []byte(a))
	}
	return b
}

func doArgs(t *testing.T, c *Cluster, args ...string) (any, error) {
	t.Helper()
	var out Tape
	if err := c.DoArgs(argv(args...), &out); err != nil {
		return nil, err
	}
	v := mustDecode(t, out.Buf)
	if len(v) != 1 {
		t.Fatalf("%v: %d replies", args, len(v))
	}
	return v[0], nil
}

func mustArgs(t *testing.T, c *Cluster, args ...string) any {
	t.Helper()
	v, err := doArgs(t, c, args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

func TestClusterCommandsSplitAcrossSlots(t *testing.T) {
	nodes := redisCluster(t, 3)
	c := NewCluster(nodes[0], seedsOf(nodes), 1, true)
	defer c.Close()

	mset := []string{"MSET"}
	mget := []string{"MGET"}
	var want []any
	slots := map[int]bool{}
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("key:%d", i)
		slots[KeySlot([]byte(k))] = true
		mset = append(mset, k, "v"+k)
		mget = append(mget, k)
		want = append(want, bulkV("v"+k))
		if i%10 == 0 {
			mget = append(mget, "missing:"+k)
			want = append(want, nil)
		}
	}
	if len(slots) < 10 {
		t.Fatalf("keys fell in only %d slots", len(slots))
	}
	if got := mustArgs(t, c, mset...); got != simpleV("OK") {
		t.Fatalf("MSET: %v", got)
	}
	if got := mustArgs(t, c, mget...); !reflect.DeepEqual(got, want) {
		t.Fatalf("MGET:\n got %v\nwant %v", got, want)
	}
	// Each key really is on its own slot's owner.
	for i := 0; i < 50; i += 7 {
		k := fmt.Sprintf("key:%d", i)
		owner, _ := c.Slots().Primary(KeySlot([]byte(k)))
		if got := nodeCommand(t, nodeByPort(nodes, owner.Port), "GET", k); got != bulkV("v"+k) {
			t.Fatalf("%s on %s: %v", k, owner.Addr(), got)
		}
	}
	if got := mustArgs(t, c, "EXISTS", "key:1", "key:2", "key:1", "nope", "key:3"); got != int64(4) {
		t.Fatalf("EXISTS: %v", got)
	}
	if got := mustArgs(t, c, "TOUCH", "key:1", "key:2", "nope"); got != int64(2) {
		t.Fatalf("TOUCH: %v", got)
	}
	if got := mustArgs(t, c, "UNLINK", "key:1", "key:2", "nope"); got != int64(2) {
		t.Fatalf("UNLINK: %v", got)
	}
	if got := mustArgs(t, c, "DEL", "key:3", "key:4", "key:1"); got != int64(2) {
		t.Fatalf("DEL: %v", got)
	}
	// One hash tag: one slot, sent whole.
	if got := mustArgs(t, c, "MSET", "{t}a", "1", "{t}b", "2"); got != simpleV("OK") {
		t.Fatalf("MSET one slot: %v", got)
	}
	if got := mustArgs(t, c, "RENAME", "{t}a", "{t}c"); got != simpleV("OK") {
		t.Fatalf("RENAME one slot: %v", got)
	}

	// A cross-slot command that cannot be split is refused before sending.
	_, err := doArgs(t, c, "RENAME", "key:10", "key:11")
	var cross *CrossSlotError
	if !errors.As(err, &cross) || err.Error() != "RENAME - all keys must map to the same key slot" {
		t.Fatalf("RENAME across slots: %v", err)
	}
	if got := mustArgs(t, c, "EXISTS", "key:10", "key:11"); got != int64(2) {
		t.Fatalf("the refused RENAME ran: EXISTS says %v", got)
	}
	// MSET with an odd argument count is not split; the server's error is
	// not hidden by a split, it is refused as cross-slot.
	if _, err := doArgs(t, c, "MSET", "key:10", "1", "key:11"); !errors.As(err, &cross) {
		t.Fatalf("odd MSET: %v", err)
	}

	// Keyless commands go to a primary; a script's keys are read from its
	// numkeys, other movable keys asked of the server (COMMAND GETKEYS).
	if got := mustArgs(t, c, "PING"); got != simpleV("PONG") {
		t.Fatalf("PING: %v", got)
	}
	if got := mustArgs(t, c, "EVAL", "return 1", "0"); got != int64(1) {
		t.Fatalf("EVAL without keys: %v", got)
	}
	if got := mustArgs(t, c, "EVAL", "return redis.call('GET', KEYS[1])", "1", "key:7"); got != bulkV("vkey:7") {
		t.Fatalf("EVAL on a key: %v", got)
	}
	if _, err := doArgs(t, c, "EVAL", "return 1", "2", "key:1", "key:2"); !errors.As(err, &cross) {
		t.Fatalf("EVAL across slots: %v", err)
	}
	var unknown *UnknownKeysError
	if _, err := doArgs(t, c, "EVAL", "return 1", "5", "key:1"); !errors.As(err, &unknown) {
		t.Fatalf("EVAL with numkeys past its arguments: %v", err)
	}
	if got := mustArgs(t, c, "ZADD", "{z}a", "1", "m"); got != int64(1) {
		t.Fatalf("ZADD: %v", got)
	}
	if got := mustArgs(t, c, "ZUNIONSTORE", "{z}out", "1", "{z}a"); got != int64(1) {
		t.Fatalf("ZUNIONSTORE (keys from COMMAND GETKEYS): %v", got)
	}
	if _, err := doArgs(t, c, "ZUNIONSTORE", "out", "2", "key:1", "key:2"); !errors.As(err, &cross) {
		t.Fatalf("ZUNIONSTORE across slots: %v", err)
	}
	// An error reply from the server comes back as the reply.
	if got := mustArgs(t, c, "INCR", "key:20"); fmt.Sprint(got) != "ERR value is not an integer or out of range" {
		t.Fatalf("INCR of a string: %v", got)
	}
}

func TestRespSizeIsAppendRESPsLength(t *testing.T) {
	for _, args := range [][][]byte{argv("PING"), argv("SET", "k", "v"), argv("HSET", string(make([]byte, 12345)), "", "x"),
		argv("MSET", "a", "1", "b", "22", "c", "333", "d", "4444", "e", "5", "f", "6")} {
		if got, want := respSize(args), len(appendRESP(nil, args)); got != want {
			t.Errorf("%d args: respSize %d, appendRESP %d", len(args), got, want)
		}
	}
}
