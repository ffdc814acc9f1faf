package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
)

// The TLS side of sock (transport.go): the handshake at dial, and the
// reads, writes and peeks socket.go hands over when sock.tc is set.

// handshake runs the TLS handshake on s.fd within the connect timeout
// (counted from start, the beginning of the dial); with none, within the
// socket timeout; with neither, it may wait for ever, as the TCP connect
// may. The dial's caller may still be interrupted meanwhile: an
// interruptible caller dials from a goroutine (pconn_connect.go).
func (s *sock) handshake(o *Options, start int64) error {
	cfg, err := o.TLS.forHost(o.Host)
	if err != nil {
		return &ConnError{fmt.Errorf("TLS to %s: %w", o.Addr(), err)}
	}
	if len(cfg.Certificates) == 0 {
		// Remember whether the server asked for a certificate we do not
		// have: under TLS 1.3 its refusal comes after the handshake, often
		// as a reset that hides the alert, and the error must still say why.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			s.certAsked = true
			return &tls.Certificate{}, nil
		}
	}
	w := &tlsWire{fd: s.fd, tick: o.tick(), until: maxDeadline}
	switch {
	case o.ConnectTimeout > 0:
		w.until = start + int64(o.ConnectTimeout)
	case o.SocketTimeout > 0:
		w.until = nanotime() + int64(o.SocketTimeout)
	}
	tc := tls.Client(w, cfg)
	if err := tc.Handshake(); err != nil {
		return tlsError(o.Addr(), err, true)
	}
	w.until = 0
	s.tc, s.tw = tc, w
	return nil
}

// tlsRead is readSome (now false: errTick after a tick without bytes) or
// readNow (now true: (0, nil) when nothing has arrived) under TLS.
func (s *sock) tlsRead(p []byte, now bool) (int, error) {
	if s.sr < s.sw {
		n := copy(p, s.stage[s.sr:s.sw])
		s.sr += n
		return n, nil
	}
	s.tw.nonblock = now
	dst := p
	staged := len(p) < maxPlaintext
	if staged {
		// Too small for a whole record: decrypt into stage, so the rest of
		// the record waits where buffered() sees it.
		if s.stage == nil {
			s.stage = make([]byte, maxPlaintext)
		}
		dst = s.stage
	}
	n, err := s.tc.Read(dst)
	s.tw.nonblock = false
	if n > 0 {
		// A read that also met the server's close_notify has the error
		// kept by crypto/tls: the next read returns it.
		if staged {
			s.sr, s.sw = copy(p, s.stage[:n]), n
			return s.sr, nil
		}
		return n, nil
	}
	if err == tlsTick {
		if now {
			return 0, nil
		}
		return 0, errTick
	}
	if now && (err == io.EOF || err == io.ErrUnexpectedEOF) && !s.certAsked {
		return 0, errIdleClosed
	}
	return 0, s.failure(err)
}

// tlsPeek is peekIdle under TLS: a read that does not wait. Records that
// carry no data (TLS 1.3's NewSessionTicket, which servers send after the
// handshake, maybe while the connection is idle) are consumed by
// crypto/tls and are no bytes nobody asked for; decrypted data is kept in
// stage for the drain that follows peekBytes.
func (s *sock) tlsPeek() int {
	if s.sr < s.sw {
		return peekBytes
	}
	if s.stage == nil {
		s.stage = make([]byte, maxPlaintext)
	}
	s.tw.nonblock = true
	n, err := s.tc.Read(s.stage)
	s.tw.nonblock = false
	switch {
	case n > 0:
		s.sr, s.sw = 0, n
		return peekBytes
	case err == tlsTick:
		return peekEmpty
	}
	return peekClosed
}

// tlsWrite is writeAll under TLS: the writer's progress and stall check go
// with the bytes to the wire for this call (one small allocation per
// write, on the TLS path only).
func (s *sock) tlsWrite(p []byte, progress *atomic.Int64, st *stallCheck) error {
	s.tw.wctx.Store(&wireWrite{progress: progress, st: st})
	_, err := s.tc.Write(p)
	s.tw.wctx.Store(nil)
	if err != nil {
		return s.failure(err)
	}
	return nil
}

// failure is the error of a failed TLS read or write.
func (s *sock) failure(err error) error {
	err = tlsError("", err, false)
	var ce *ConnError
	if s.certAsked && errors.As(err, &ce) && !strings.Contains(err.Error(), "client certificate") {
		return &ConnError{fmt.Errorf("the server asked for a TLS client certificate and none was given "+
			"(ssl_certfile, ssl_keyfile), then dropped the connection: %w", err)}
	}
	return err
}

// tlsError turns what crypto/tls returned into the engine's errors: our
// own (ErrTimeout, ErrInterrupted, ConnError) pass through as they are;
// the rest become a ConnError whose message says what failed, with the
// words redis-py (OpenSSL) uses for a failed verification.
func tlsError(addr string, err error, handshaking bool) error {
	var ce *ConnError
	switch {
	case err == ErrTimeout || err == ErrInterrupted || errors.As(err, &ce):
		return err
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if handshaking {
			return &ConnError{fmt.Errorf("TLS handshake with %s: the server closed the connection (is its port a TLS port?)", addr)}
		}
		return &ConnError{errors.New("the server closed the connection")}
	}
	var verr *tls.CertificateVerificationError
	var herr x509.HostnameError
	var uerr x509.UnknownAuthorityError
	var cerr x509.CertificateInvalidError
	what := "TLS"
	if addr != "" {
		what = "TLS handshake with " + addr
	}
	switch {
	case errors.As(err, &verr), errors.As(err, &herr), errors.As(err, &uerr), errors.As(err, &cerr):
		return &ConnError{fmt.Errorf("%s: certificate verify failed: %w", what, err)}
	case strings.Contains(err.Error(), "certificate required"):
		return &ConnError{fmt.Errorf("%s: the server requires a client certificate (ssl_certfile, ssl_keyfile): %w", what, err)}
	case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return &ConnError{fmt.Errorf("%s: the server did not answer in TLS (is its port a TLS port?): %w", what, err)}
	}
	return &ConnError{fmt.Errorf("%s: %w", what, err)}
}
