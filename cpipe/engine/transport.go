package engine

import (
	"crypto/tls"
	"syscall"
)

// A sock is one connection's transport: the blocking descriptor every
// connection has, and, for a TLS connection, crypto/tls driven over that
// same descriptor (tls_sock.go). The plaintext path pays one nil check of
// tc per syscall and nothing else: the functions of socket.go take a *sock
// and go straight to the descriptor when tc is nil.
//
// Ownership follows the descriptor's, as before: whoever held the fd holds
// the sock. Its TLS state (tc, the staged plaintext, the wire's buffer) is
// touched only by the holder of the connection's reading role (reads,
// peeks) or writing role (writes); crypto/tls allows one Read and one Write
// at a time concurrently, which is exactly what the roles give it. close
// and shutdown work on the descriptor alone, so failLocked may shut a TLS
// connection down under a blocked reader as it does a plaintext one. A
// TLS connection is closed without a close_notify alert: sending one could
// block, and the server treats a closed socket the same way.
type sock struct {
	fd int
	tc *tls.Conn // nil: plaintext
	tw *tlsWire  // what tc reads and writes: the descriptor, record by record

	// Plaintext crypto/tls decrypted but the caller had no room for
	// (stage[sr:sw]): reads smaller than a record go through it, so no
	// decrypted byte is ever hidden inside tls.Conn, where peekIdle and
	// the in-band watcher could not see it.
	stage  []byte
	sr, sw int
	// certAsked: the server asked for a client certificate during the
	// handshake and we had none (tls_sock.go: failure).
	certAsked bool
}

func (s *sock) close() { syscall.Close(s.fd) }

// shutdown wakes whoever is blocked on the connection; the descriptor stays
// allocated (and its number unreused) until close.
func (s *sock) shutdown() { syscall.Shutdown(s.fd, syscall.SHUT_RDWR) }

// buffered reports whether bytes already read from the socket wait in the
// process, where poll(2) does not see them: TLS records read ahead, or
// plaintext decrypted ahead. Always false for plaintext, whose unread
// bytes are all in the kernel.
func (s *sock) buffered() bool {
	return s.tc != nil && (s.sr < s.sw || s.tw.r < s.tw.w)
}
