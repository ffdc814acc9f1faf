package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
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
// COMMAND table and splits multi-key commands; DoPipeline
// (cluster_pipeline.go) splits a pipeline by node; cluster_exec.go is what
// the C entry points call. A node that stops answering (a dead primary) is
// a reason to reload the map and try the slot's new owner, until the
// failover window (socket timeout, else FailoverWindow) is over.
type Cluster struct {
	base      Options // per-node options; Host/Port replaced for each node
	groupSize int
	autopipe  bool

	mu         sync.Mutex
	slots      *SlotMap
	moved      map[int]string // MOVED redirects seen since the last refresh
	keys       *KeyTable      // the server's COMMAND table, fetched once
	groups     map[string]*Group
	readGroups map[string]*Group // READONLY connections, for replica reads
	seeds      []string          // "host:port" tried, in order, when refreshing
	closed     bool
	stop       chan struct{} // closed by Close: ends the periodic refresh

	replicaReads ReplicaReads
	roundRobin   atomic.Uint64

	refreshMu   sync.Mutex // single-flight: one refresh at a time
	refreshGen  uint64     // bumped by each finished refresh
	refreshedAt time.Time  // when the last refresh finished
}

// ReplicaReads says where read-only commands go (redis-py's
// load_balancing_strategy): the slot's primary, or a READONLY connection.
type ReplicaReads int

const (
	ReadPrimary            ReplicaReads = iota // every command on the primary
	ReadRoundRobin                             // primary and replicas in turn (read_from_replicas=True)
	ReadRoundRobinReplicas                     // replicas in turn; the primary when a shard has none
	ReadRandomReplica                          // a random replica; the primary when a shard has none
)

// FailoverWindow bounds how long a command waits for a dead node's slots
// to get a new owner when the client has no socket timeout.
const FailoverWindow = 15 * time.Second

// minRefreshGap: reloads asked for by failing commands more often than
// this (a burst during a failover) share the last one.
const minRefreshGap = 50 * time.Millisecond

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
	return &Cluster{base: o, seeds: append([]string(nil), seeds...), groupSize: groupSize, autopipe: autopipeline,
		groups: map[string]*Group{}, readGroups: map[string]*Group{}, stop: make(chan struct{})}
}

// NewClusterFrom makes a router whose nodes are connected with g's
// options, pool size and auto-pipelining (g itself is not used).
func NewClusterFrom(g *Group, seeds []string) *Cluster {
	return NewCluster(g.o, seeds, len(g.conns), !g.exclusive)
}

// SetReplicaReads chooses where read-only commands go; call before use.
func (c *Cluster) SetReplicaReads(r ReplicaReads) { c.replicaReads = r }

// RefreshEvery reloads the slot map every interval in the background (a
// reshard or failover seen before any command runs into it). A reload that
// is already running is not started twice.
func (c *Cluster) RefreshEvery(interval time.Duration) {
	if interval <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				c.refreshInBackground()
			}
		}
	}()
}

// group returns the connection group of node addr, making it on first use.
func (c *Cluster) group(addr string) (*Group, error) { return c.groupFor(addr, false) }

// groupFor is group, or with readonly the node's READONLY connections
// (kept apart: a connection that said READONLY serves replica reads).
func (c *Cluster) groupFor(addr string, readonly bool) (*Group, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, &ConnError{Err: errors.New("cluster client closed")}
	}
	groups := c.groups
	if readonly {
		groups = c.readGroups
	}
	if g, ok := groups[addr]; ok {
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
	if readonly {
		o.Init = appendRESP(append([]byte(nil), o.Init...), []string{"READONLY"})
		o.InitCount++
	}
	g := NewGroup(o, c.groupSize, c.autopipe)
	groups[addr] = g
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
func (c *Cluster) Refresh() error { return c.refresh(0) }

// refreshUnlessFresh is Refresh, except that a map loaded less than gap ago
// is kept: the commands of a lost node, all retrying at once, share one
// reload instead of each asking a node again.
func (c *Cluster) refreshUnlessFresh(gap time.Duration) error { return c.refresh(gap) }

func (c *Cluster) refresh(gap time.Duration) error {
	c.mu.Lock()
	gen := c.refreshGen
	c.mu.Unlock()
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.Lock()
	if c.slots != nil && (c.refreshGen != gen || time.Since(c.refreshedAt) < gap) {
		c.mu.Unlock()
		return nil // someone refreshed while we waited, or just now
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
		c.refreshedAt = time.Now()
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
	m, err := ParseClusterShards(req.Tape.Buf, host, c.base.TLS != nil)
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

// Every Request the router makes keeps its replies in Go memory (no
// Tape.Grow): only the caller's out tape may live in the caller's memory
// (the bridge's is C memory, freed by whoever it is handed to), and a
// reply is copied into it once, when final. An attempt answered with a
// redirect is dropped, which Go's collector can free and C's cannot.

// callOpts is how one routed command runs: as a blocking command (its own
// connection, the read timeout stretched by blockFor), and whether it only
// reads (so it may go to a replica, see ReplicaReads).
type callOpts struct {
	blocking bool
	blockFor time.Duration
	read     bool
}

// DoSlot runs req (one command, or several all for the same slot) on the
// primary of slot, following redirects. req's replies and Err are set as
// Group.Do sets them. Only a one-command request is redirected; a request
// of several commands gets its replies as the node sent them.
func (c *Cluster) DoSlot(slot int, req *Request) error { return c.doSlot(slot, req, callOpts{}) }

func (c *Cluster) doSlot(slot int, req *Request, o callOpts) error {
	addr, readonly, err := c.nodeFor(slot, o.read)
	if err != nil {
		return err
	}
	return c.follow(slot, addr, readonly, false, req, o)
}

// nodeFor is where a command for slot goes: its primary, or for a read
// with replica reads on, the node ReplicaReads picks (readonly: over a
// READONLY connection).
func (c *Cluster) nodeFor(slot int, read bool) (addr string, readonly bool, err error) {
	addr, err = c.primaryOf(slot)
	if err != nil || !read || c.replicaReads == ReadPrimary {
		return addr, false, err
	}
	m := c.Slots()
	nodes := m.Slots[slot]
	if len(nodes) < 2 || m.Nodes[nodes[0]].Addr() != addr {
		return addr, false, nil // no replica, or a MOVED note overrides the map
	}
	var i int
	switch c.replicaReads {
	case ReadRoundRobin:
		i = int(c.roundRobin.Add(1) % uint64(len(nodes)))
	case ReadRoundRobinReplicas:
		i = 1 + int(c.roundRobin.Add(1)%uint64(len(nodes)-1))
	default:
		i = 1 + rand.Intn(len(nodes)-1)
	}
	if i == 0 {
		return addr, false, nil
	}
	return m.Nodes[nodes[i]].Addr(), true, nil
}

// nodeLost reports whether err means the node did not answer (refused,
// reset, closed): then its slots may have moved to a promoted replica. A
// timeout is not retried: the command may still be running there.
func nodeLost(err error) bool {
	var ce *ConnError
	return errors.As(err, &ce) && !errors.Is(err, ErrInterrupted) && err != errCancelled
}

// follow runs req on node addr (after ASKING when asking) and follows the
// redirects its reply carries, as DoSlot describes. A lost node, or a slot
// nobody serves for the moment, makes it reload the map and try the slot's
// owner again until the failover window closes (redis-py's RedisCluster
// does the same on ConnectionError and ClusterDownError).
func (c *Cluster) follow(slot int, addr string, readonly, asking bool, req *Request, o callOpts) error {
	window := c.base.SocketTimeout
	if window <= 0 {
		window = FailoverWindow
	}
	deadline := time.Now().Add(window)
	backoff := 10 * time.Millisecond
	wait := func() bool { // false: the window is over
		if time.Now().Add(backoff).After(deadline) {
			return false
		}
		time.Sleep(backoff)
		if backoff < 200*time.Millisecond {
			backoff *= 2
		}
		return true
	}
	for hop := 0; ; hop++ {
		g, err := c.groupFor(addr, readonly)
		if err != nil {
			return err
		}
		attempt := &Request{Data: req.Data, N: req.N, ReadTimeout: req.ReadTimeout, Interrupt: req.Interrupt}
		if asking {
			attempt.Data = append(clusterCommand("ASKING"), req.Data...)
			attempt.N = req.N + 1
		}
		err = g.Do(attempt, o.blocking, o.blockFor)
		if asking && err == nil && attempt.Err == nil {
			// Drop ASKING's own +OK; the caller sees only its commands.
			rest := skipEntry(attempt.Tape.Buf)
			attempt.Tape.Buf = attempt.Tape.Buf[:copy(attempt.Tape.Buf, rest)]
			attempt.N = req.N
		}
		req.Tape, req.Err = attempt.Tape, attempt.Err
		if err == nil && req.Err != nil {
			err, req.Err = req.Err, nil // a lost connection is one error, however reported
		}
		if err != nil {
			// Not counted as a redirect: until the cluster marks the node
			// failed and promotes its replica (the node timeout), the map
			// still names it, so only the window bounds these retries.
			hop--
			if !nodeLost(err) || c.isClosed() || !wait() {
				return err
			}
			c.refreshUnlessFresh(minRefreshGap)
			if addr, readonly, err = c.ownerAfterLoss(slot, o.read, wait); err != nil {
				return err
			}
			asking = false
			continue
		}
		if req.N != 1 || hop >= maxRedirects {
			return nil
		}
		r := parseRedirect(req.Tape.Buf)
		asking, readonly = false, false
		switch r.kind {
		case "MOVED":
			c.movedTo(r.slot, r.addr)
			addr = r.addr
		case "ASK":
			addr, asking = r.addr, true
		case "TRYAGAIN", "CLUSTERDOWN":
			if !wait() {
				return nil // the error reply stands
			}
			if r.kind == "CLUSTERDOWN" {
				c.Refresh()
				if addr, readonly, err = c.ownerAfterLoss(slot, o.read, wait); err != nil {
					return err
				}
			}
		default:
			return nil
		}
	}
}

// ownerAfterLoss is slot's node once the map has been reloaded, waiting
// (and reloading again) while no node serves it: a failed primary's
// shard is left out of CLUSTER SHARDS until a replica takes over.
func (c *Cluster) ownerAfterLoss(slot int, read bool, wait func() bool) (string, bool, error) {
	for {
		addr, readonly, err := c.nodeFor(slot, read)
		if err != ErrClusterDown || !wait() {
			return addr, readonly, err
		}
		c.refreshUnlessFresh(minRefreshGap)
	}
}

func (c *Cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close closes every node's connections; later commands fail.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	groups := c.groups
	for _, g := range c.readGroups {
		groups[g.o.Addr()+" (readonly)"] = g
	}
	c.groups, c.readGroups = map[string]*Group{}, map[string]*Group{}
	c.closed = true
	close(c.stop)
	c.mu.Unlock()
	for _, g := range groups {
		g.Close()
	}
}
