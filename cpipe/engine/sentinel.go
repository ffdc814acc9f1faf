package engine

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// A Sentinel asks a list of Redis Sentinels where a service's master and
// replicas are, as redis-py's redis.sentinel.Sentinel does, and serves the
// answers to the connects of the groups opened with one of its targets
// (SentinelTarget, the Resolver of their Options).
//
//   - The sentinels are asked in order; the first whose answer is usable
//     is swapped to the front, so the next question goes to it first
//     (redis-py's order, kept for the same reason: it answered last time).
//   - A master is usable as redis-py's check_master_state says: flags
//     "master", not s_down nor o_down, at least minOther other sentinels.
//   - Replicas are those the first sentinel that lists any lists as not
//     down (redis-py's discover_slaves and filter_slaves).
//   - While some group of a master target is open, one engine-owned
//     pub/sub connection to a sentinel listens for +switch-master
//     (sentinel_watch.go); on it the groups' connections to anything but
//     the new master are failed.
//
// Each sentinel is a Group of its own (its connection options: timeouts,
// AUTH), which the Sentinel owns and closes.
type Sentinel struct {
	mu       sync.Mutex
	nodes    []*Group // the sentinels, the last one that answered first
	minOther int
	forceIP  string // when set, the master's address is this host (redis-py's force_master_ip)
	targets  map[*SentinelTarget]struct{}
	watch    *sentinelWatch // nil until a master target has a group
	closed   bool
}

// NewSentinel makes a Sentinel over the groups of nodes (one per sentinel,
// each with its connection options), which it owns from now on.
func NewSentinel(nodes []*Group, minOther int, forceIP string) *Sentinel {
	return &Sentinel{nodes: append([]*Group(nil), nodes...), minOther: minOther, forceIP: forceIP,
		targets: map[*SentinelTarget]struct{}{}}
}

// SentinelError is redis-py's MasterNotFoundError (NoReplica false) or
// SlaveNotFoundError (NoReplica true).
type SentinelError struct {
	NoReplica bool
	Msg       string
}

func (e *SentinelError) Error() string { return e.Msg }

// Addr is a host and port a sentinel named.
type Addr struct {
	Host string
	Port int
}

func (a Addr) String() string { return Endpoint{Host: a.Host, Port: a.Port}.addr() }

func (s *Sentinel) snapshot() []*Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Group(nil), s.nodes...)
}

// promote swaps g to the front, as redis-py does with the sentinel that answered.
func (s *Sentinel) promote(g *Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, n := range s.nodes {
		if n == g {
			s.nodes[0], s.nodes[i] = s.nodes[i], s.nodes[0]
			return
		}
	}
}

// ask runs one command on sentinel g and returns its reply's tape; an
// error reply is returned as a replyError.
func (s *Sentinel) ask(g *Group, interrupt func() bool, args ...string) ([]byte, error) {
	var data []byte
	data = appendCommand(data, args[0], args[1:])
	req := &Request{Data: data, N: 1, Interrupt: interrupt}
	if err := g.Do(req, false, 0); err != nil {
		return nil, err
	}
	b := req.Tape.Buf
	if len(b) >= 9 && b[0] == KindError {
		return nil, replyError(string(b[9 : 9+int(leUint64(b[1:]))]))
	}
	return b, nil
}

// replyError is a sentinel's error reply.
type replyError string

func (e replyError) Error() string { return string(e) }

// DiscoverMaster returns the master's address for service name, or a
// SentinelError (MasterNotFoundError) naming what each sentinel that
// could not be asked said. interrupt is as Request.Interrupt (nil: none).
func (s *Sentinel) DiscoverMaster(name string, interrupt func() bool) (Addr, error) {
	var failures []string
	for _, g := range s.snapshot() {
		b, err := s.ask(g, interrupt, "SENTINEL", "MASTER", name)
		if errors.Is(err, ErrInterrupted) {
			return Addr{}, err
		}
		var re replyError
		if errors.As(err, &re) && strings.Contains(string(re), "No such master") {
			continue // this sentinel does not monitor it: as redis-py, no error to report
		}
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s - %v", g.o.Addr(), err))
			continue
		}
		st, _, ok := readState(b)
		if !ok || !st.usableMaster(s.minOther) {
			continue
		}
		port, ok := st.port()
		if !ok {
			continue
		}
		s.promote(g)
		host := st["ip"]
		if s.forceIP != "" {
			host = s.forceIP
		}
		return Addr{host, port}, nil
	}
	msg := "No master found for " + pyQuote(name)
	if len(failures) > 0 {
		msg += " : " + strings.Join(failures, ", ")
	}
	return Addr{}, &SentinelError{Msg: msg}
}

// DiscoverReplicas returns the replicas of service name that the first
// sentinel listing any reports as up; none is no error (redis-py's
// discover_slaves), except an interruption.
func (s *Sentinel) DiscoverReplicas(name string, interrupt func() bool) ([]Addr, error) {
	for _, g := range s.snapshot() {
		b, err := s.ask(g, interrupt, "SENTINEL", "SLAVES", name)
		if errors.Is(err, ErrInterrupted) {
			return nil, err
		}
		if err != nil {
			continue
		}
		states, ok := readStates(b)
		if !ok {
			continue
		}
		var out []Addr
		for _, st := range states {
			if port, ok := st.port(); ok && st.alive() {
				out = append(out, Addr{st["ip"], port})
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, nil
}

// Target returns the Resolver for service name's master, or, with
// replica, its replicas (round-robin, then the master): what the Options
// of a master_for or slave_for client's groups carry.
func (s *Sentinel) Target(name string, replica bool) *SentinelTarget {
	t := newSentinelTarget(s, name, replica)
	s.mu.Lock()
	s.targets[t] = struct{}{}
	s.mu.Unlock()
	return t
}

// forget drops t from the targets switches are applied to.
func (s *Sentinel) forget(t *SentinelTarget) {
	s.mu.Lock()
	delete(s.targets, t)
	s.mu.Unlock()
}

// watchNeeded starts the +switch-master listener once a master target
// has a group; called by SentinelTarget.attach.
func (s *Sentinel) watchNeeded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watch == nil && !s.closed {
		s.watch = startSentinelWatch(s)
	}
}

// masterTargets returns the targets of service name's master.
func (s *Sentinel) masterTargets(name string) []*SentinelTarget {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*SentinelTarget
	for t := range s.targets {
		if !t.replica && (name == "" || t.name == name) {
			out = append(out, t)
		}
	}
	return out
}

// switched applies a +switch-master: service name's master is now at
// host:port (force_master_ip replacing host, as for a discovered master).
func (s *Sentinel) switched(name, host string, port int) {
	if s.forceIP != "" {
		host = s.forceIP
	}
	to := Addr{host, port}
	for _, t := range s.masterTargets(name) {
		t.moveTo(to, "Sentinel announced +switch-master")
	}
}

// recheck asks for the master of every master target and moves those
// whose master changed: after the listener (re)subscribed, a switch
// announced while it was not listening is caught this way.
func (s *Sentinel) recheck() {
	seen := map[string]bool{}
	for _, t := range s.masterTargets("") {
		if seen[t.name] {
			continue
		}
		seen[t.name] = true
		if !t.resolvedOnce() {
			continue
		}
		if a, err := s.DiscoverMaster(t.name, nil); err == nil {
			for _, u := range s.masterTargets(t.name) {
				u.moveTo(a, "Sentinel names a new master")
			}
		}
	}
}

// Close stops the listener and closes the sentinels' connections; the
// targets' groups fail to resolve from then on.
func (s *Sentinel) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	w := s.watch
	nodes := s.nodes
	s.mu.Unlock()
	if w != nil {
		w.stop()
	}
	for _, g := range nodes {
		g.Close()
	}
}
