package engine

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// What a connection does when Options.Resolver names its server (Sentinel):
// dialServer asks the resolver before every dial, checkDialed checks the
// ROLE of what the dial reached, movedAway turns a READONLY reply from a
// master into a failure of the connection, and failConnsNotAt fails a
// group's connections to a master Sentinel has switched away from.

// A Resolver names the servers one connect tries, in order. Its methods
// are called with no engine lock held: Resolve by the connecting caller
// (or the goroutine that connects for it), the others from anywhere.
type Resolver interface {
	// Resolve returns the endpoints to try, in order, and the epoch of the
	// answer: a connect made from it is kept only while Current(epoch).
	Resolve() ([]Endpoint, uint64, error)
	// Current reports whether an answer of that epoch still holds (no
	// switch of master was heard since).
	Current(epoch uint64) bool
	// FailOnReadOnly: a READONLY error reply means the server is no longer
	// the master it was named as.
	FailOnReadOnly() bool
	// NotFound is the error when every endpoint failed to connect, or nil
	// to report the last dial's error (cause).
	NotFound(cause error) error
	attach(g *Group)
	detach(g *Group)
}

// An Endpoint is one server a Resolver names.
type Endpoint struct {
	Host string
	Port int
	// Role is what the server's ROLE must say ("master", "slave"); "": any.
	Role string
}

func (e Endpoint) addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// dialed is what a connect reached.
type dialed struct {
	addr  string
	role  string // the ROLE to check; "": none
	epoch uint64
}

// dialServer dials Options' server, or the first endpoint of the
// Resolver's answer that accepts the connection.
func dialServer(o *Options) (*sock, dialed, error) {
	if o.Resolver == nil {
		fd, err := dial(o)
		return fd, dialed{addr: o.Addr()}, err
	}
	eps, epoch, err := o.Resolver.Resolve()
	if err != nil {
		return nil, dialed{}, err
	}
	var last error
	for _, ep := range eps {
		one := *o
		one.Host, one.Port, one.UnixPath, one.Resolver = ep.Host, ep.Port, "", nil
		fd, err := dial(&one)
		if err == nil {
			return fd, dialed{addr: ep.addr(), role: ep.Role, epoch: epoch}, nil
		}
		last = err
	}
	if last == nil {
		last = errors.New("no server to connect to")
	}
	if nf := o.Resolver.NotFound(last); nf != nil {
		return nil, dialed{}, nf
	}
	return nil, dialed{}, last
}

// roleCommand is ROLE as the bridge encodes commands.
var roleCommand = []byte("*1\r\n$4\r\nROLE\r\n")

// checkDialed runs once the init commands are done, with c.connecting
// owning fd and the reader's state. again: a switch of master was heard
// since the resolver answered, so the connect starts over from a new
// answer. An error: the server does not have the role it was named for
// (a demoted master a sentinel has not caught up with yet); the connect
// fails rather than run commands on the wrong server.
func (c *PConn) checkDialed(fd *sock, to dialed) (again bool, err error) {
	r := c.o.Resolver
	if r == nil {
		return false, nil
	}
	if to.role != "" {
		role, err := c.askRole(fd)
		if err != nil {
			return false, err
		}
		if role != "" && role != to.role {
			return false, &ConnError{fmt.Errorf("%s answers ROLE with %q, not %q as Sentinel said: not connecting to it", to.addr, role, to.role)}
		}
	}
	return !r.Current(to.epoch), nil
}

// askRole sends ROLE and returns the first word of its reply; "" when the
// server refuses it (an ACL without ROLE, a server without it): then the
// role cannot be checked, and the connect goes on.
func (c *PConn) askRole(fd *sock) (string, error) {
	st := stallCheck{timeout: c.o.SocketTimeout, tick: c.o.tick()}
	if err := writeAll(fd, roleCommand, nil, &st); err != nil {
		return "", err
	}
	req := &Request{N: 1}
	if err := c.readReplies(fd, req, nil); err != nil {
		return "", err
	}
	if c.rr < c.rw && !c.rd.InPush() {
		return "", strayBytes(c.rbuf[c.rr:c.rw])
	}
	b := req.Tape.Buf
	if len(b) < 9 || (b[0] != KindArray && b[0] != KindPush) || leUint64(b[1:]) == 0 {
		return "", nil
	}
	b = b[9:]
	if s, ok := tapeString(b); ok {
		return strings.ToLower(s), nil
	}
	return "", nil
}

// movedAway is checked for every answered request (reading role): with a
// Resolver that names masters, a READONLY error reply among its replies
// means the server was demoted to a replica. The error fails the
// connection, so the next connect asks the resolver again.
//
// As redis-py's SentinelManagedConnection does, the request that got it
// fails with a ConnectionError rather than a ReadOnlyError (a configured
// Retry retries it: the server refused to run it); the requests behind it
// on the connection fail with the same error.
func (c *PConn) movedAway(t *Tape, n int) error {
	if c.o.Resolver == nil || !c.o.Resolver.FailOnReadOnly() {
		return nil
	}
	b := t.Buf
	for i := 0; i < n && len(b) > 0; i++ {
		if b[0] == KindError {
			msg := string(b[9 : 9+int(leUint64(b[1:]))])
			if strings.HasPrefix(msg, "READONLY") {
				return &ConnError{fmt.Errorf("The previous master is now a slave: %s answered %q; "+
					"the next command asks Sentinel for the master again", c.addr, msg)}
			}
		}
		b = skipEntry(b)
	}
	return nil
}

// failConnsNotAt fails every connection of g that is up and connected
// anywhere but addr (the new master): shared, borrowed and side ones.
// Their requests in flight fail with cause (they may or may not have run
// on the old master); nothing is read from them again.
func (g *Group) failConnsNotAt(addr string, cause error) int {
	conns := append([]*PConn(nil), g.conns...)
	g.sideMu.Lock()
	conns = append(conns, g.side...)
	for c := range g.sideActive {
		conns = append(conns, c)
	}
	g.sideMu.Unlock()
	n := 0
	for _, c := range conns {
		if c.failIfNotAt(addr, cause) {
			n++
		}
	}
	return n
}

func (c *PConn) failIfNotAt(addr string, cause error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.connecting || c.fd == nil || c.broken != nil || c.addr == addr {
		return false
	}
	c.failLocked(cause)
	if !c.reading && !c.writing {
		// Nobody holds the socket: release it now rather than at the next connect.
		c.fd.close()
		c.fd = nil
	}
	return true
}

// tapeString reads a bulk or simple string entry.
func tapeString(b []byte) (string, bool) {
	if len(b) < 9 || (b[0] != KindBulk && b[0] != KindSimple && b[0] != KindVerbatim) {
		return "", false
	}
	n := int(leUint64(b[1:]))
	if len(b) < 9+n {
		return "", false
	}
	return string(b[9 : 9+n]), true
}
