package engine

import (
	"reflect"
	"strings"
	"testing"
)

func TestKeyPositionsAgreeWithCommandGetkeys(t *testing.T) {
	for _, proto := range []int{RESP2, RESP3} {
		o := redisServer(t)
		o.Protocol = proto
		g := NewGroup(o, 1, false)
		defer g.Close()
		req := request(cmd("COMMAND"))
		if err := g.Do(req, false, 0); err != nil {
			t.Fatal(err)
		}
		table, err := ParseCommandTable(req.Tape.Buf)
		if err != nil {
			t.Fatalf("RESP%d: %v", proto, err)
		}
		for _, line := range []string{
			"GET k", "SET k v EX 10", "MSET a 1 b 2 c 3", "MGET a b c", "DEL a b", "HSET h f v g w",
			"RENAME a b", "LMOVE a b LEFT RIGHT", "BLPOP a b c 0", "XINFO STREAM s", "OBJECT ENCODING k",
			"MEMORY USAGE k", "EXISTS a b a", "GETEX k PERSIST",
		} {
			args := strings.Fields(line)
			var b [][]byte
			for _, a := range args {
				b = append(b, []byte(a))
			}
			pos, known := table.KeyPositions(b)
			if !known {
				t.Errorf("RESP%d %s: positions unknown", proto, line)
				continue
			}
			var mine []any
			for _, p := range pos {
				mine = append(mine, bulkV(args[p]))
			}
			server := groupValues(t, g, cmd(append([]string{"COMMAND", "GETKEYS"}, args...)...))[0]
			if !reflect.DeepEqual(mine, server) {
				t.Errorf("RESP%d %s: keys %v, server says %v", proto, line, mine, server)
			}
		}
		for _, line := range []string{"PING", "INFO server", "CLUSTER INFO", "FLUSHALL"} {
			pos, known := table.KeyPositions([][]byte{[]byte(strings.Fields(line)[0])})
			if !known || len(pos) != 0 {
				t.Errorf("RESP%d %s: %v %v, want known and keyless", proto, line, pos, known)
			}
		}
		for _, line := range []string{"EVAL s 1 k", "ZUNIONSTORE d 2 a b", "XREAD STREAMS s 0", "NOSUCHCOMMAND x"} {
			var b [][]byte
			for _, a := range strings.Fields(line) {
				b = append(b, []byte(a))
			}
			if _, known := table.KeyPositions(b); known {
				t.Errorf("RESP%d %s: movable or unknown keys reported as known", proto, line)
			}
		}
		slot, keyless, cross, known := table.CommandSlot([][]byte{[]byte("MSET"), []byte("{u}a"), []byte("1"), []byte("{u}b"), []byte("2")})
		if !known || keyless || cross || slot != KeySlot([]byte("u")) {
			t.Errorf("MSET on one hash tag: slot %d keyless %v cross %v known %v", slot, keyless, cross, known)
		}
		if _, _, cross, _ := table.CommandSlot([][]byte{[]byte("MGET"), []byte("a"), []byte("b")}); !cross {
			t.Error("MGET a b (slots 15495 and 3300) not reported as cross-slot")
		}
	}
}
