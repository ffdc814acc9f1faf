package engine

import (
	"net"
	"strconv"
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
