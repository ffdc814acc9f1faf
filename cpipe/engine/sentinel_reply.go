package engine

import (
	"strconv"
	"strings"
)

// Reading Sentinel's replies. SENTINEL MASTER <name> answers with one
// instance's state, a flat array of field, value, field, value ... (RESP2)
// or a map (RESP3); SENTINEL SLAVES <name> with an array of those. The
// fields used are ip, port, flags ("master", "slave", "s_down", "o_down",
// ...) and, for a master, num-other-sentinels. They are judged as
// redis-py's parse_sentinel_state and Sentinel.check_master_state /
// filter_slaves judge them, so both give the same answers.

// sentinelState is one instance's fields.
type sentinelState map[string]string

func (s sentinelState) flags() map[string]bool {
	out := map[string]bool{}
	for _, f := range strings.Split(s["flags"], ",") {
		out[f] = true
	}
	return out
}

func (s sentinelState) port() (int, bool) {
	p, err := strconv.Atoi(s["port"])
	return p, err == nil && p > 0 && p <= 65535
}

// usableMaster is redis-py's check_master_state: a master, neither
// subjectively nor objectively down, seen by enough other sentinels.
func (s sentinelState) usableMaster(minOther int) bool {
	f := s.flags()
	if !f["master"] || f["s_down"] || f["o_down"] {
		return false
	}
	others, err := strconv.Atoi(s["num-other-sentinels"])
	return err == nil && others >= minOther
}

// alive is redis-py's filter_slaves: not down in either sense.
func (s sentinelState) alive() bool {
	f := s.flags()
	return !f["s_down"] && !f["o_down"]
}

// readState reads one state entry (a flat array of pairs, or a map) and
// returns what follows it.
func readState(b []byte) (sentinelState, []byte, bool) {
	if len(b) < 9 || (b[0] != KindArray && b[0] != KindMap) {
		return nil, nil, false
	}
	n := int(leUint64(b[1:]))
	if b[0] == KindMap {
		n *= 2
	} else if n%2 != 0 {
		return nil, nil, false
	}
	b = b[9:]
	s := sentinelState{}
	for i := 0; i < n; i += 2 {
		if len(b) == 0 {
			return nil, nil, false
		}
		k, ok := tapeString(b)
		b = skipEntry(b)
		if len(b) == 0 {
			return nil, nil, false
		}
		v, vok := tapeString(b)
		if !vok && b[0] == KindInt {
			v, vok = strconv.FormatInt(int64(leUint64(b[1:])), 10), true
		}
		b = skipEntry(b)
		if ok && vok {
			s[k] = v
		}
	}
	return s, b, true
}

// readStates reads an array of state entries (SENTINEL SLAVES).
func readStates(b []byte) ([]sentinelState, bool) {
	if len(b) < 9 || b[0] != KindArray {
		return nil, false
	}
	n := int(leUint64(b[1:]))
	b = b[9:]
	out := make([]sentinelState, 0, n)
	for i := 0; i < n; i++ {
		s, rest, ok := readState(b)
		if !ok {
			return nil, false
		}
		out = append(out, s)
		b = rest
	}
	return out, true
}

// pyQuote is Python's repr of a str without quotes in it, as redis-py
// names a service in its messages ('mymaster').
func pyQuote(s string) string {
	if strings.ContainsAny(s, "'\\\n\r") {
		return strconv.Quote(s)
	}
	return "'" + s + "'"
}
