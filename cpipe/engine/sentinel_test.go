package engine

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A fake Redis server for Sentinel tests: WHO answers its name, ROLE its
// role, and SET answers READONLY once it is demoted.
type roleServer struct {
	*fakeServer
	name    string
	replica atomic.Bool
}

func newRoleServer(t *testing.T, name string) *roleServer {
	rs := &roleServer{name: name}
	rs.fakeServer = newFakeServer(t, serveWith(func(sc *serverConn, args []string) (bool, bool) {
		switch strings.ToUpper(args[0]) {
		case "WHO":
			sc.bulk(rs.name)
		case "ROLE":
			if rs.replica.Load() {
				sc.w.WriteString("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:1\r\n$9\r\nconnected\r\n:0\r\n")
			} else {
				sc.w.WriteString("*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")
			}
		case "SET":
			if rs.replica.Load() {
				sc.w.WriteString("-READONLY You can't write against a read only replica.\r\n")
			} else {
				sc.w.WriteString("+OK\r\n")
			}
		default:
			return false, true
		}
		return true, true
	}))
	return rs
}

func (rs *roleServer) port() int { return rs.options().Port }

// A fake sentinel: SENTINEL MASTER / SLAVES from its state, SUBSCRIBE
// confirmed, and publish() sends +switch-master to its subscribers.
type fakeSentinel struct {
	*fakeServer
	mu       sync.Mutex
	known    bool   // monitors "svc"
	master   int    // the master's port
	flags    string // the master's flags
	others   int    // num-other-sentinels
	replicas []int
	subs     []*serverConn
	asked    atomic.Int64
}

func newFakeSentinel(t *testing.T, master int) *fakeSentinel {
	fs := &fakeSentinel{known: true, master: master, flags: "master", others: 2}
	fs.fakeServer = newFakeServer(t, serveWith(func(sc *serverConn, args []string) (bool, bool) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		switch strings.ToUpper(args[0]) {
		case "SENTINEL":
			fs.asked.Add(1)
			sub := strings.ToUpper(args[1])
			if !fs.known || args[2] != "svc" {
				sc.w.WriteString("-ERR No such master with that name\r\n")
			} else if sub == "MASTER" {
				writeState(sc, fs.master, fs.flags, fs.others)
			} else if sub == "SLAVES" {
				sc.w.WriteString("*" + strconv.Itoa(len(fs.replicas)) + "\r\n")
				for _, p := range fs.replicas {
					writeState(sc, p, "slave", -1)
				}
			}
		case "SUBSCRIBE":
			sc.w.WriteString("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n")
			sc.w.Flush() // publish writes to the socket itself, under fs.mu
			fs.subs = append(fs.subs, sc)
		default:
			return false, true
		}
		return true, true
	}))
	return fs
}

func writeState(sc *serverConn, port int, flags string, others int) {
	fields := []string{"name", "svc", "ip", "127.0.0.1", "port", strconv.Itoa(port), "flags", flags}
	if others >= 0 {
		fields = append(fields, "num-other-sentinels", strconv.Itoa(others))
	}
	sc.w.WriteString("*" + strconv.Itoa(len(fields)) + "\r\n")
	for _, f := range fields {
		sc.bulk(f)
	}
}

func (fs *fakeSentinel) set(f func(fs *fakeSentinel)) {
	fs.mu.Lock()
	f(fs)
	fs.mu.Unlock()
}

// publish sends +switch-master svc to every subscriber; reports how many got it.
func (fs *fakeSentinel) publish(oldPort, newPort int) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	payload := "svc 127.0.0.1 " + strconv.Itoa(oldPort) + " 127.0.0.1 " + strconv.Itoa(newPort)
	n := 0
	msg := "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$" + strconv.Itoa(len(payload)) + "\r\n" + payload + "\r\n"
	for _, sc := range fs.subs {
		if _, err := sc.Conn.Write([]byte(msg)); err == nil {
			n++
		}
	}
	return n
}

func (fs *fakeSentinel) subscribers() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.subs)
}

func newTestSentinel(t *testing.T, nodes ...*fakeSentinel) *Sentinel {
	var groups []*Group
	for _, n := range nodes {
		groups = append(groups, NewGroup(n.options(), 1, false))
	}
	s := NewSentinel(groups, 0, "")
	t.Cleanup(s.Close)
	return s
}

func who(t *testing.T, g *Group) (string, error) {
	t.Helper()
	req := request(cmd("WHO"))
	if err := g.Do(req, false, 0); err != nil {
		return "", err
	}
	v := mustDecode(t, req.Tape.Buf)
	s, _ := v[0].(bulkV)
	return string(s), nil
}

func TestSentinelAsksInOrderAndPromotesTheOneThatAnswered(t *testing.T) {
	a := newRoleServer(t, "a")
	unknown, knows := newFakeSentinel(t, a.port()), newFakeSentinel(t, a.port())
	unknown.set(func(fs *fakeSentinel) { fs.known = false })
	s := newTestSentinel(t, unknown, knows)
	got, err := s.DiscoverMaster("svc", nil)
	if err != nil || got.Port != a.port() || got.Host != "127.0.0.1" {
		t.Fatalf("DiscoverMaster = %v, %v", got, err)
	}
	if s.snapshot()[0].o.Port != knows.options().Port {
		t.Fatal("the sentinel that answered was not moved to the front")
	}
	unknown.asked.Store(0)
	if _, err := s.DiscoverMaster("svc", nil); err != nil || unknown.asked.Load() != 0 {
		t.Fatalf("the answering sentinel was not asked first (err %v)", err)
	}
	// A master down, or seen by too few sentinels, is no master (redis-py's check_master_state).
	knows.set(func(fs *fakeSentinel) { fs.flags = "master,s_down" })
	_, err = s.DiscoverMaster("svc", nil)
	var se *SentinelError
	if !errors.As(err, &se) || se.NoReplica || se.Msg != "No master found for 'svc'" {
		t.Fatalf("want MasterNotFound, got %v", err)
	}
	knows.set(func(fs *fakeSentinel) { fs.flags, fs.others = "master", 0 })
	s.minOther = 1
	if _, err := s.DiscoverMaster("svc", nil); !errors.As(err, &se) {
		t.Fatalf("min_other_sentinels not applied: %v", err)
	}
}

func TestSentinelUnreachableSentinelsAreNamed(t *testing.T) {
	dead := newFakeSentinel(t, 1)
	deadPort := dead.options().Port
	dead.Close()
	s := newTestSentinel(t, dead)
	_, err := s.DiscoverMaster("svc", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "No master found for 'svc' : 127.0.0.1:"+strconv.Itoa(deadPort)+" - ") {
		t.Fatalf("got %v", err)
	}
}

func masterGroup(t *testing.T, s *Sentinel, size int) *Group {
	o := Options{SocketTimeout: 5 * time.Second, ConnectTimeout: 2 * time.Second, Resolver: s.Target("svc", false)}
	g := NewGroup(o, size, true)
	t.Cleanup(g.Close)
	return g
}

func TestSentinelReadOnlyFailsTheConnectionAndTheNextConnectAsksAgain(t *testing.T) {
	a, b := newRoleServer(t, "a"), newRoleServer(t, "b")
	fs := newFakeSentinel(t, a.port())
	g := masterGroup(t, newTestSentinel(t, fs), 1)
	if name, err := who(t, g); err != nil || name != "a" {
		t.Fatalf("first connect: %q, %v", name, err)
	}
	// a is demoted and b promoted; the client only learns it from a's READONLY.
	a.replica.Store(true)
	fs.set(func(fs *fakeSentinel) { fs.master = b.port() })
	req := request(cmd("SET", "k", "v"), cmd("WHO"))
	err := g.Do(req, false, 0)
	var ce *ConnError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "The previous master is now a slave") {
		t.Fatalf("a READONLY reply: want the previous-master ConnError, got %v", err)
	}
	if name, err := who(t, g); err != nil || name != "b" {
		t.Fatalf("after READONLY: %q, %v", name, err)
	}
}

func TestSentinelRoleIsCheckedOnConnect(t *testing.T) {
	a := newRoleServer(t, "a")
	a.replica.Store(true) // the sentinel has not caught up with a's demotion
	fs := newFakeSentinel(t, a.port())
	g := masterGroup(t, newTestSentinel(t, fs), 1)
	_, err := who(t, g)
	if err == nil || !strings.Contains(err.Error(), `answers ROLE with "slave", not "master"`) {
		t.Fatalf("want the ROLE refusal, got %v", err)
	}
	a.replica.Store(false)
	if name, err := who(t, g); err != nil || name != "a" {
		t.Fatalf("once a is master: %q, %v", name, err)
	}
}

func TestSentinelSwitchMasterFailsConnectionsToTheOldMaster(t *testing.T) {
	a, b := newRoleServer(t, "a"), newRoleServer(t, "b")
	fs := newFakeSentinel(t, a.port())
	g := masterGroup(t, newTestSentinel(t, fs), 3)
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ { // connect all three shared connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := request(cmd("SLEEP", "30", "x"))
			if err := g.Do(req, false, 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, 5*time.Second, "the +switch-master subscription", func() bool { return fs.subscribers() > 0 })
	openOnA := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.conns)
	}
	if openOnA() == 0 {
		t.Fatal("no connection to a")
	}
	fs.set(func(fs *fakeSentinel) { fs.master = b.port() })
	if fs.publish(a.port(), b.port()) == 0 {
		t.Fatal("nobody listened")
	}
	// Idle connections to a are failed and closed without any command.
	waitFor(t, 5*time.Second, "the connections to the old master to close", func() bool { return openOnA() == 0 })
	for i := 0; i < 3; i++ {
		if name, err := who(t, g); err != nil || name != "b" {
			t.Fatalf("after the switch: %q, %v", name, err)
		}
	}
}

func TestSentinelReplicasRoundRobinThenTheMaster(t *testing.T) {
	m, r1, r2 := newRoleServer(t, "m"), newRoleServer(t, "r1"), newRoleServer(t, "r2")
	fs := newFakeSentinel(t, m.port())
	fs.set(func(fs *fakeSentinel) { fs.replicas = []int{r1.port(), r2.port()} })
	s := newTestSentinel(t, fs)
	target := s.Target("svc", true)
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		g := NewGroup(Options{SocketTimeout: 5 * time.Second, Resolver: target}, 1, false)
		name, err := who(t, g)
		g.Close()
		if err != nil {
			t.Fatal(err)
		}
		seen[name]++
	}
	if seen["r1"] != 2 || seen["r2"] != 2 {
		t.Fatalf("not round-robin over the replicas: %v", seen)
	}
	// Replicas unreachable: the master, as redis-py falls back to it.
	r1.Close()
	r2.Close()
	g := NewGroup(Options{SocketTimeout: 5 * time.Second, ConnectTimeout: time.Second, Resolver: target}, 1, false)
	defer g.Close()
	if name, err := who(t, g); err != nil || name != "m" {
		t.Fatalf("fallback: %q, %v", name, err)
	}
	// Nothing reachable: SlaveNotFoundError.
	m.Close()
	g.Close()
	g = NewGroup(Options{SocketTimeout: 5 * time.Second, ConnectTimeout: time.Second, Resolver: target}, 1, false)
	_, err := who(t, g)
	var se *SentinelError
	if !errors.As(err, &se) || !se.NoReplica || !strings.HasPrefix(se.Msg, "No slave found for 'svc'") {
		t.Fatalf("want SlaveNotFound, got %v", err)
	}
}
