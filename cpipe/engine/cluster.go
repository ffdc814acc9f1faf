package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Cluster routes commands over a Redis Cluster: one Group (auto-pipelined
// connections, the same Options as a single-node client) per node, a slot
// map from CLUSTER SHARDS/SLOTS, and the redirect protocol: MOVED updates
// the map and retries on the named node, ASK sends ASKING and the command
// once on the named node, TRYAGAIN and CLUSTERDOWN are retried after a
// short back-off while the socket timeout allows.
//
// DoArgs (cluster_command.go) finds a command's slot from the server's
// COMMAND table and splits multi-key commands. Not yet here (see the
// README's "Redis Cluster" section): cluster pipelines, the Python API and
// the C bridge.
type Cluster struct {
	base      Options // per-node options; Host/Port replaced for each node
	groupSize int
	autopipe  bool

	mu     sync.Mutex
	slots  *SlotMap
	moved  map[int]string // MOVED redirects seen since the last refresh
	keys   *KeyTable      // the server's COMMAND table, fetched once
	groups map[string]*Group
	seeds  []string // "host:port" tried, in order, when refreshing
	closed bool

	refreshMu  sync.Mutex // single-flight: one refresh at a time
	refreshGen uint64     // bumped by each finished refresh
}

// maxRedirects bounds MOVED/ASK hops for one command, as redis-py's
// RedisCluster bounds them (its cluster_error_retry_attempts and
// reinitialize logic); a loop past it is reported, not followed forever.
const maxRedirects = 16

// ErrClusterDown is returned when no node serves a command's slot.
var ErrClusterDown = errors.New("CLUSTERDOWN no node serves this hash slot")

// NewCluster makes a router; seeds are "host:port" startup nodes. No
// connection is opened until Refresh or the first command.
func NewCluster(o Options, seeds []string, groupSize int, autopipeline bool) *Cluster {
	if groupSize < 1 {
		groupSize = 1
	}
	return &Cluster{base: o, seeds: append([]string(nil), seeds...), groupSize: groupSize, autopipe: autopipeline, groups: map[string]*Group{}}
}

// group returns the connection group of node addr, making it on first use.
func (c *Cluster) group(addr string) (*Group, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, &ConnError{Err: errors.New("cluster client closed")}
	}
	if g, ok := c.groups[addr]; ok {
		return g, nil
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, err
	}
	o := c.base
	o.Host, o.Port, o.UnixPath = host, port, ""
	g := NewGroup(o, c.groupSize, c.autopipe)
	c.groups[addr] = g
	return g, nil
}

// Slots is the current slot map (nil before the first refresh).
func (c *Cluster) Slots() *SlotMap {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slots
}

// Refresh reloads the slot map from the first seed or known node that
// answers. Concurrent callers share one refresh: whoever arrives while one
// is running waits for it and uses its result (no thundering herd).
func (c *Cluster) Refresh() error {
	c.mu.Lock()
	gen := c.refreshGen
	c.mu.Unlock()
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.Lock()
	if c.refreshGen != gen && c.slots != nil {
		c.mu.Unlock()
		return nil // someone refreshed while we waited
	}
	candidates := append([]string(nil), c.seeds...)
	if c.slots != nil {
		for _, n := range c.slots.Nodes {
			candidates = append(candidates, n.Addr())
		}
	}
	c.mu.Unlock()
	var lastErr error
	for _, addr := range candidates {
		m, err := c.loadSlots(addr)
		if err != nil {
			lastErr = err
			continue
		}
		c.mu.Lock()
		c.slots = m
		c.moved = nil
		c.refreshGen++
		c.mu.Unlock()
		return nil
	}
	if lastErr == nil {
		lastErr = errors.New("cluster: no startup node given")
	}
	return lastErr
}

func (c *Cluster) loadSlots(addr string) (*SlotMap, error) {
	g, err := c.group(addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	req := &Request{Data: clusterCommand("CLUSTER", "SHARDS"), N: 1}
	if err := g.Do(req, false, 0); err != nil {
		return nil, err
	}
	if req.Err != nil {
		return nil, req.Err
	}
	m, err := ParseClusterShards(req.Tape.Buf, host)
	if err != nil && req.Tape.Buf[0] == KindError {
		// Redis before 7.0 has no CLUSTER SHARDS.
		req = &Request{Data: clusterCommand("CLUSTER", "SLOTS"), N: 1}
		if err := g.Do(req, false, 0); err != nil {
			return nil, err
		}
		if req.Err != nil {
			return nil, req.Err
		}
		m, err = ParseClusterSlots(req.Tape.Buf, host)
	}
	if err != nil {
		return nil, err
	}
	if m.Covered() == 0 {
		return nil, fmt.Errorf("cluster: %s serves no slots yet", addr)
	}
	return m, nil
}

func clusterCommand(args ...string) []byte { return appendRESP(nil, args) }

// redirect is a cluster error reply's instruction.
type redirect struct {
	kind string // "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN" or ""
	slot int
	addr string
}

// parseRedirect reads the first entry of tape: "-MOVED 3999 127.0.0.1:6381",
// "-ASK 3999 127.0.0.1:6381", "-TRYAGAIN ...", "-CLUSTERDOWN ...".
func parseRedirect(tape []byte) redirect {
	if len(tape) < 9 || tape[0] != KindError {
		return redirect{}
	}
	n := int(leUint64(tape[1:]))
	if len(tape) < 9+n {
		return redirect{}
	}
	msg := tape[9 : 9+n]
	for _, k := range []string{"MOVED ", "ASK "} {
		if !bytes.HasPrefix(msg, []byte(k)) {
			continue
		}
		parts := bytes.Fields(msg)
		if len(parts) != 3 {
			return redirect{}
		}
		slot, err := strconv.Atoi(string(parts[1]))
		if err != nil {
			return redirect{}
		}
		addr := string(parts[2])
		if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
			// An unknown endpoint is reported as ":port": the node we asked.
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return redirect{kind: k[:len(k)-1], slot: slot, addr: addr}
	}
	for _, k := range []string{"TRYAGAIN", "CLUSTERDOWN"} {
		if bytes.HasPrefix(msg, []byte(k)) {
			return redirect{kind: k}
		}
	}
	return redirect{}
}

// primaryOf returns the address of slot's primary, refreshing the map once
// when there is none yet.
func (c *Cluster) primaryOf(slot int) (string, error) {
	m := c.Slots()
	if m == nil {
		if err := c.Refresh(); err != nil {
			return "", err
		}
		m = c.Slots()
	}
	c.mu.Lock()
	moved, ok := c.moved[slot]
	c.mu.Unlock()
	if ok {
		return moved, nil
	}
	n, ok := m.Primary(slot)
	if !ok {
		return "", ErrClusterDown
	}
	return n.Addr(), nil
}

// movedTo notes a MOVED redirect at once (so the next command for the
// slot goes straight there), then refreshes the whole map in the
// background, since a MOVED usually means a reshard or failover touched
// more slots. The note is kept apart from the map, which is never written
// once published, and is dropped by the next refresh.
func (c *Cluster) movedTo(slot int, addr string) {
	c.mu.Lock()
	if c.moved == nil {
		c.moved = map[int]string{}
	}
	c.moved[slot] = addr
	c.mu.Unlock()
	go c.refreshInBackground()
}

// refreshInBackground refreshes unless a refresh is already running, so a
// burst of redirects costs one reload, not one per redirect.
func (c *Cluster) refreshInBackground() {
	if !c.refreshMu.TryLock() {
		return
	}
	c.refreshMu.Unlock()
	c.Refresh()
}

// DoSlot runs req (one command, or several all for the same slot) on the
// primary of slot, following redirects. req's replies and Err are set as
// Group.Do sets them. Only a one-command request is redirected; a request
// of several commands gets its replies as the node sent them.
func (c *Cluster) DoSlot(slot int, req *Request) error {
	addr, err := c.primaryOf(slot)
	if err != nil {
		return err
	}
	return c.follow(slot, addr, false, req)
}

// follow runs req on node addr (after ASKING when asking) and follows the
// redirects its reply carries, as DoSlot describes.
func (c *Cluster) follow(slot int, addr string, asking bool, req *Request) error {
	deadline := time.Now().Add(c.base.SocketTimeout)
	backoff := 10 * time.Millisecond
	for hop := 0; ; hop++ {
		g, err := c.group(addr)
		if err != nil {
			return err
		}
		attempt := &Request{Data: req.Data, N: req.N, ReadTimeout: req.ReadTimeout, Interrupt: req.Interrupt, Tape: Tape{Grow: req.Tape.Grow}}
		if asking {
			attempt.Data = append(clusterCommand("ASKING"), req.Data...)
			attempt.N = req.N + 1
		}
		err = g.Do(attempt, false, 0)
		if asking && err == nil && attempt.Err == nil {
			// Drop ASKING's own +OK; the caller sees only its commands.
			rest := skipEntry(attempt.Tape.Buf)
			attempt.Tape.Buf = attempt.Tape.Buf[:copy(attempt.Tape.Buf, rest)]
			attempt.N = req.N
		}
		req.Tape, req.Err = attempt.Tape, attempt.Err
		if err != nil || req.Err != nil || req.N != 1 || hop >= maxRedirects {
			return err
		}
		r := parseRedirect(req.Tape.Buf)
		asking = false
		switch r.kind {
		case "MOVED":
			c.movedTo(r.slot, r.addr)
			addr = r.addr
		case "ASK":
			addr, asking = r.addr, true
		case "TRYAGAIN", "CLUSTERDOWN":
			if c.base.SocketTimeout > 0 && time.Now().Add(backoff).After(deadline) {
				return nil // the error reply stands
			}
			time.Sleep(backoff)
			backoff *= 2
			if r.kind == "CLUSTERDOWN" {
				c.Refresh()
				if addr, err = c.primaryOf(slot); err != nil {
					return err
				}
			}
		default:
			return nil
		}
	}
}

// Close closes every node's connections; later commands fail.
func (c *Cluster) Close() {
	c.mu.Lock()
	groups := c.groups
	c.groups = map[string]*Group{}
	c.closed = true
	c.mu.Unlock()
	for _, g := range groups {
		g.Close()
	}
}
