package engine

import (
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// Options configure every connection of a client or pool.
type Options struct {
	Host           string
	Port           int
	UnixPath       string        // when set, Host and Port are ignored
	ConnectTimeout time.Duration // 0: no limit
	SocketTimeout  time.Duration // per read/write syscall; 0: no limit
	// Init holds RESP-encoded commands (AUTH, SELECT, CLIENT SETNAME) sent
	// after every connect, InitCount of them; an error reply to any of them
	// fails the connect with an InitError.
	Init      []byte
	InitCount int
	// MaxQueued bounds the commands accepted but not yet answered on one
	// connection. A caller that would pass it waits (up to SocketTimeout);
	// a single request larger than the bound is still accepted alone.
	MaxQueued int
	// ConnectOnce: a connection that has failed (or was closed after a
	// failure) is never replaced: every later command on it fails with a
	// ConnError. The first connect still happens lazily, on the first
	// command, and a connect that fails before any succeeded may be tried
	// again. For a connection that carries state a new one would not have:
	// a WATCH pipeline's, where a silent reconnect between WATCH and EXEC
	// would drop the watch and let EXEC succeed unconditionally. For the
	// same reason a blocking command run with Group.Do waits on the
	// group's connection rather than on a side connection of its own;
	// asynchronous ones (Group.Submit) still get a side connection, which
	// Cancel can close.
	ConnectOnce bool
	// Tracking, when set, takes part in every connect and every failure of
	// the group's connections: client-side caching's CLIENT TRACKING
	// (tracking.go). Set by Group.EnableTracking before the first command.
	Tracking connTracker
	// Protocol is the RESP version asked for: 2 (or 0) speaks RESP2 and
	// sends no HELLO; 3 sends HELLO 3 on every connect, after the AUTH
	// commands that lead Init and before the others. A server that answers
	// HELLO with an error saying it does not know it (an old server, or one
	// where HELLO is renamed away: "unknown command", NOPROTO, or an ACL's
	// NOPERM) is spoken to in RESP2 from then on, by every connection of
	// these Options, and the connect goes on quietly. Any other error reply
	// to HELLO fails the connect with an InitError (Command "HELLO").
	Protocol int
	// OnPush receives every RESP3 push frame (an invalidation of CLIENT
	// TRACKING, a pub/sub message) that arrives on a connection of these
	// Options outside any reply: the frame's tape (one KindPush entry, see
	// tape.go), a Go slice the callee owns from then on. A push frame is
	// never a command's reply and is never counted as one. The hook runs in
	// the goroutine that holds the connection's reading role (a caller's,
	// or an engine goroutine's), with no engine lock held, between two
	// replies: it must not block and must not call into the engine on the
	// same connection and wait (the replies behind it wait for it). Nil:
	// push frames are dropped and counted (Group.DroppedPushes). Set before
	// the first connect; never changed afterwards.
	OnPush func(frame []byte)
	// Resolver, when set, names the server every connect dials instead of
	// Host, Port and UnixPath, checks what the connect reached, and watches
	// replies for the sign that the server is no longer what it named
	// (Sentinel: sentinel_conn.go, sentinel_target.go). Set before the
	// first connect; never changed afterwards.
	Resolver Resolver
	// TLS, when set, makes every connection of these Options a TLS one:
	// crypto/tls over the same blocking descriptor (transport.go,
	// tls_sock.go), the handshake within ConnectTimeout. A Resolver's
	// endpoints and a cluster's nodes get it too, each checked against the
	// host it dials. Nil: plaintext.
	TLS *TLSConfig

	// shared is what every connection of these Options learns and keeps
	// (set up by NewGroup or NewPConn).
	shared *connShared
}

// connShared is the state connections of one Options share.
type connShared struct {
	resp2Only atomic.Bool  // the server refused HELLO 3: speak RESP2
	proto     atomic.Int32 // the protocol the last connect settled on; 0: none yet
	dropped   atomic.Int64 // push frames dropped for want of OnPush
}

// The wire protocols.
const (
	RESP2 = 2
	RESP3 = 3
)

func (o *Options) share() *connShared {
	if o.shared == nil {
		o.shared = new(connShared)
	}
	return o.shared
}

// DefaultMaxQueued is used when Options.MaxQueued is 0.
const DefaultMaxQueued = 1 << 20

// Addr names the server for error messages.
func (o *Options) Addr() string {
	if o.UnixPath != "" {
		return "unix:" + o.UnixPath
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
}

// interruptTick is the longest any syscall or wait of a caller lasts
// before it checks its deadline and, in the signal-handling thread, for a
// signal: Ctrl-C reaches Python within about this long (plus the GIL).
const interruptTick = 50 * time.Millisecond

// tick is the SO_RCVTIMEO/SO_SNDTIMEO of every socket: one interruptTick,
// or the socket timeout when that is shorter, so a timeout is seen on time.
func (o *Options) tick() time.Duration {
	if o.SocketTimeout > 0 && o.SocketTimeout < interruptTick {
		return o.SocketTimeout
	}
	return interruptTick
}

func (o *Options) maxQueued() int {
	if o.MaxQueued > 0 {
		return o.MaxQueued
	}
	return DefaultMaxQueued
}
