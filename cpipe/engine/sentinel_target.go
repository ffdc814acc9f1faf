package engine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// A SentinelTarget is the Resolver of a master_for or slave_for client:
// before every connect of its groups it asks its Sentinel where the
// service's master (or a replica) is.
//
//   - Master: the discovered master, whose ROLE must say "master". A
//     READONLY reply fails the connection (sentinel_conn.go). When the
//     answer changes (a connect found a new master, or +switch-master was
//     heard), every connection of its groups to another address is failed,
//     so none keeps writing to the old master.
//   - Replica: the discovered replicas, round-robin from a random one,
//     then the master (redis-py's rotate_slaves); the first that accepts
//     the connection is used. No ROLE check and no READONLY handling: a
//     write on a replica is the caller's ReadOnlyError, as in redis-py.
type SentinelTarget struct {
	s       *Sentinel
	name    string
	replica bool
	epoch   atomic.Uint64 // bumped by every move of the master
	rr      atomic.Int64  // replica round-robin position; -1: not started

	mu     sync.Mutex
	groups map[*Group]struct{}
	master Addr // the master last named; zero: not asked yet
}

func newSentinelTarget(s *Sentinel, name string, replica bool) *SentinelTarget {
	t := &SentinelTarget{s: s, name: name, replica: replica, groups: map[*Group]struct{}{}}
	t.rr.Store(-1)
	return t
}

var _ Resolver = (*SentinelTarget)(nil)

// Resolve implements Resolver.
func (t *SentinelTarget) Resolve() ([]Endpoint, uint64, error) {
	epoch := t.epoch.Load()
	if !t.replica {
		a, err := t.s.DiscoverMaster(t.name, nil)
		if err != nil {
			return nil, 0, err
		}
		if t.moveTo(a, "Sentinel names a new master") {
			epoch = t.epoch.Load() // our own move: this answer is the current one
		}
		return []Endpoint{{Host: a.Host, Port: a.Port, Role: "master"}}, epoch, nil
	}
	replicas, err := t.s.DiscoverReplicas(t.name, nil)
	if err != nil {
		return nil, 0, err
	}
	var eps []Endpoint
	if n := int64(len(replicas)); n > 0 {
		t.rr.CompareAndSwap(-1, rand.Int64N(n))
		start := t.rr.Add(1)
		for i := int64(0); i < n; i++ {
			a := replicas[(start+i)%n]
			eps = append(eps, Endpoint{Host: a.Host, Port: a.Port})
		}
	}
	if a, err := t.s.DiscoverMaster(t.name, nil); err == nil {
		eps = append(eps, Endpoint{Host: a.Host, Port: a.Port}) // the fallback, as redis-py's
	}
	if len(eps) == 0 {
		return nil, 0, t.NotFound(nil)
	}
	return eps, epoch, nil
}

// Current implements Resolver.
func (t *SentinelTarget) Current(epoch uint64) bool { return t.replica || t.epoch.Load() == epoch }

// FailOnReadOnly implements Resolver.
func (t *SentinelTarget) FailOnReadOnly() bool { return !t.replica }

// NotFound implements Resolver: no replica (nor the master) could be
// connected to is redis-py's SlaveNotFoundError; for a master the dial's
// own error stands (redis-py's ConnectionError from connect).
func (t *SentinelTarget) NotFound(cause error) error {
	if !t.replica {
		return nil
	}
	msg := "No slave found for " + pyQuote(t.name)
	if cause != nil {
		msg += fmt.Sprintf(" (last: %v)", cause)
	}
	return &SentinelError{NoReplica: true, Msg: msg}
}

// Release ends t's part in switches: its groups (which keep resolving
// through it until they are closed) are no longer moved by +switch-master.
func (t *SentinelTarget) Release() { t.s.forget(t) }

func (t *SentinelTarget) attach(g *Group) {
	t.mu.Lock()
	t.groups[g] = struct{}{}
	t.mu.Unlock()
	if !t.replica {
		t.s.watchNeeded()
	}
}

func (t *SentinelTarget) detach(g *Group) {
	t.mu.Lock()
	delete(t.groups, g)
	t.mu.Unlock()
}

func (t *SentinelTarget) resolvedOnce() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.master != Addr{}
}

// moveTo records a as the master. When it differs from the master named
// before, the epoch moves on (connects that resolved earlier start over)
// and every connection of the groups to another address is failed.
// Reports whether it moved.
func (t *SentinelTarget) moveTo(a Addr, why string) bool {
	if t.replica {
		return false
	}
	t.mu.Lock()
	old := t.master
	if old == a {
		t.mu.Unlock()
		return false
	}
	t.master = a
	t.epoch.Add(1)
	groups := make([]*Group, 0, len(t.groups))
	for g := range t.groups {
		groups = append(groups, g)
	}
	t.mu.Unlock()
	if old == (Addr{}) {
		return true // the first answer: nothing was connected through an older one
	}
	cause := &ConnError{fmt.Errorf("%s: the master of %s moved from %s to %s", why, pyQuote(t.name), old, a)}
	for _, g := range groups {
		g.failConnsNotAt(a.String(), cause)
	}
	return true
}
