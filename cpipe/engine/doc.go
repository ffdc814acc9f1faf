// Package engine is cpipe's Redis engine: connections, pipelines, pools and
// completion queues, in plain Go types. The C bridge (../bridge.c, through
// ../main.go) is its only user today; nothing here knows about Python.
//
// # The shared connection's role protocol (PConn)
//
// A PConn has no I/O thread. Its callers take turns in two roles, each held
// by at most one goroutine at a time:
//
//   - the writing role (c.writing) sends every pending request, coalescing
//     what queues up meanwhile into the next write;
//   - the reading role (c.reading) scans replies for the oldest written
//     requests until its own request is answered.
//
// Who owns what:
//
//   - c.mu guards the request lists (pending, queue, spare), the counters
//     (queued), the flags (writing, reading, connecting, broken, closed) and
//     every Request's state, Err and inWrite.
//   - The writing role owns wbuf, and uses fd with c.mu released.
//   - The reading role owns rbuf, rr, rw, rd (and the push frame it is
//     scanning), rcvTick and the Tape of the request it scans
//     (c.scanning), and uses fd with c.mu released; it runs OnPush.
//   - c.connecting owns fd, rbuf and rd while a caller dials and runs the
//     init commands with c.mu released; no role can be claimed meanwhile,
//     because nothing is admitted to a connection without a socket.
//   - wprogress, progress and timedOut are atomics, written by the role
//     that made the progress (or the failure) and read by anyone.
//   - A Request's interrupted flag and its Interrupt hook are used only by
//     the request's own caller, in its own thread (interrupt.go).
//
// Named steps, the only places the roles change hands:
//
//   - claimWritingLocked: a caller that queued a request and finds the
//     writing role free takes it (Do, Submit).
//   - writeLocked's "hand-off" to writeBatchInBackground: a batch of at
//     least bigWrite bytes is written by a goroutine that keeps the role, so
//     its caller can read replies while the rest is sent.
//   - releaseWritingLocked: nothing is pending, or the connection failed.
//   - waitLocked's "claim": a caller whose request is written finds the
//     reading role free and takes it.
//   - releaseReadingLocked: the reader's own request is done (or the
//     connection failed); it hands the role to the oldest waiting request,
//     by waking its caller or, for an asynchronous request, by starting a
//     reader goroutine (kickReaderLocked).
//   - drainIdleLocked (pconn_push.go): a caller whose idle peek finds bytes
//     on an idle connection takes both roles, reads what has arrived
//     without waiting, hands the push frames to OnPush (anything else is a
//     stray reply: the connection fails), gives both roles back and starts
//     a writer for whatever queued meanwhile.
//
// What a hand-off guarantees: replies are scanned in request order, by one
// reader at a time, so a reply is matched to its request by position
// alone. Bytes that remain when every written request is answered belong
// to nobody: the connection is failed (strayBytes) and never reused, and an
// idle connection is peeked at before its next request, so a stray reply
// that arrived meanwhile cannot become that request's reply. (A valid
// extra reply that arrives while later requests are in flight cannot be
// told from theirs: RESP carries no request ids. That is why commands that
// make the server send such replies never run on shared connections.)
//
// Failure: failLocked marks the connection broken, shuts the socket down
// (waking a role holder blocked in a syscall) and completes every request
// except the one the reader is scanning, which the reader completes once it
// stops writing its tape. The descriptor is closed only when no role holds
// it, so its number cannot be reused under a writer or reader. A caller
// whose Data is C memory waits for inWrite to clear before returning.
//
// Waits: every syscall and every wait of a caller lasts at most one tick
// (Options.tick, at most interruptTick) before it checks its timeout and,
// for an interruptible caller, whether a signal asks it to give up
// (interrupt.go). A socket timeout is "no bytes read and none written for
// that long", measured per connection, so a long but healthy transfer never
// times out, and callers queued behind a stalled server all fail together.
//
// # RESP3 and push frames
//
// With Options.Protocol 3 every connect sends HELLO 3 right after the AUTH
// commands of Options.Init. A server that answers it with "unknown
// command", NOPROTO or NOPERM is spoken to in RESP2 from then on: the
// connect goes on, the Options remember it (no later connect asks again)
// and Group.Protocol says 2. The reader takes RESP2 and RESP3 replies on
// any connection (resp.go has the grammar, tape.go the entries).
//
// A top-level RESP3 push frame (a CLIENT TRACKING invalidation, a pub/sub
// message) is never a command's reply and never counted as one. The
// reader hands it to Options.OnPush, a func(frame []byte):
//
//   - frame is the push's tape: one KindPush entry (count, then the
//     elements' entries), in Go memory the callee owns from then on.
//   - It is called in the goroutine that holds the connection's reading
//     role (a caller of Do, an engine goroutine serving Submit, the
//     connecting caller during the init commands, or the idle drain), with
//     no engine lock held (c.mu is released), between two replies.
//   - It must not block, and must not wait for a request on the same
//     connection: the replies behind the frame wait until it returns. Hand
//     the frame to another goroutine (a buffered channel with its own
//     bound) if the work is more than bookkeeping.
//   - Frames from one connection come in the order the server sent them;
//     frames from a Group's several connections may run concurrently.
//   - Without OnPush, frames are dropped and counted (Group.DroppedPushes).
//
// Where frames are met: among a request's replies (readReplies), right
// after its last reply (scanTrailingPushes), and on an idle connection,
// whose next caller's peek finds them (drainIdleLocked). A frame half
// received when the reading role is given up is finished by the next
// reader; bytes left after the last answered request that are not the
// rest of a push frame still fail the connection (strayBytes).
//
// # Lock order
//
// Group.sideMu, then PConn.mu, then Completions.mu. A Completions' add runs
// under a PConn's lock (it is the request's OnDone); Poll holds only the
// queue's own lock. No lock is held while an Interrupt hook runs, because
// the hook runs host code (Python's signal handlers).
//
// # Groups
//
// A Group is a Client or a Pool: its shared connections (or, without
// autopipelining, connections borrowed whole), and side connections for
// blocking commands, at most MaxSideConns at once, each running one
// blocking command and never returned to the shared set while it waits.
package engine
