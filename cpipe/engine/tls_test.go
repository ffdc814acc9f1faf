package engine

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Certificates for the TLS tests: a CA, a server certificate for
// 127.0.0.1/localhost, a client certificate, and an unrelated CA.
type testPKI struct {
	dir                                string
	ca, otherCA, serverCert, serverKey string
	clientCert, clientKey              string
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newCert(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	return cert, key, der, kder
}

func makePKI(t *testing.T) testPKI {
	dir := t.TempDir()
	p := testPKI{dir: dir}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cpipe test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	ca, caKey, caDER, _ := newCert(t, caTmpl, nil, nil)
	p.ca = filepath.Join(dir, "ca.pem")
	writePEM(t, p.ca, "CERTIFICATE", caDER)
	_, _, otherDER, _ := newCert(t, &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	p.otherCA = filepath.Join(dir, "other-ca.pem")
	writePEM(t, p.otherCA, "CERTIFICATE", otherDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage, hosts bool) (string, string) {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		if hosts {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		_, _, der, kder := newCert(t, tmpl, ca, caKey)
		cf, kf := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		writePEM(t, cf, "CERTIFICATE", der)
		writePEM(t, kf, "EC PRIVATE KEY", kder)
		return cf, kf
	}
	p.serverCert, p.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth, true)
	p.clientCert, p.clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth, false)
	return p
}

// redisTLS starts redis-server with a TLS port beside its plaintext one;
// the Options returned name the TLS port, verified by p's CA.
func redisTLS(t *testing.T, p testPKI, authClients bool, args ...string) Options {
	t.Helper()
	port := freePort(t)
	auth := "no"
	if authClients {
		auth = "yes"
	}
	o := redisServer(t, append([]string{"--tls-port", strconv.Itoa(port), "--tls-cert-file", p.serverCert,
		"--tls-key-file", p.serverKey, "--tls-ca-cert-file", p.ca, "--tls-auth-clients", auth}, args...)...)
	o.Port = port
	o.TLS = NewTLSConfig(TLSSettings{CAFile: p.ca, Verify: true, CheckHost: true})
	return o
}

func doOne(t *testing.T, g *Group, args ...string) []any {
	t.Helper()
	req := request(cmd(args...))
	if err := g.Do(req, false, 0); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return mustDecode(t, req.Tape.Buf)
}

func TestTLSPipelineBlockingAndIdle(t *testing.T) {
	p := makePKI(t)
	o := redisTLS(t, p, false)
	g := NewGroup(o, 1, false)
	defer g.Close()
	// A pipeline far larger than one TLS record each way.
	const n = 10000
	var data []byte
	for i := 0; i < n; i++ {
		data = appendCmd(data, "HSET", "h", "f"+strconv.Itoa(i), strings.Repeat("v", 20))
	}
	req := &Request{Data: data, N: n}
	if err := g.Do(req, false, 0); err != nil {
		t.Fatal(err)
	}
	if got := doOne(t, g, "HLEN", "h"); got[0] != int64(n) {
		t.Fatalf("HLEN = %v", got)
	}
	// A blocking command waits through many 50 ms ticks inside crypto/tls's
	// Read: each tick must resume the read, never end the connection.
	start := time.Now()
	if got := doOne(t, g, "BLPOP", "nothing", "0.4"); got[0] != nil {
		t.Fatalf("BLPOP = %v", got)
	}
	if time.Since(start) < 350*time.Millisecond {
		t.Fatalf("BLPOP returned after %v", time.Since(start))
	}
	// Idle past idlePeekAfter: the peek must not take anything (TLS 1.3
	// session tickets included) for a stray reply.
	for i := 0; i < 5; i++ {
		time.Sleep(20 * time.Millisecond)
		if got := doOne(t, g, "PING"); got[0] != simpleV("PONG") {
			t.Fatalf("PING = %v", got)
		}
	}
}

// TLS 1.3 servers send NewSessionTicket records after the handshake: they
// sit in the kernel as bytes nobody asked for, and the peek must consume
// them as the TLS records they are, not report a stray reply.
func TestTLSPeekConsumesSessionTickets(t *testing.T) {
	p := makePKI(t)
	o := redisTLS(t, p, false)
	s, err := dial(&o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	var b [1]byte
	waitFor(t, 2*time.Second, "the server's session tickets", func() bool {
		n, _, err := syscall.Recvfrom(s.fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err == nil && n > 0
	})
	if got := peekIdle(s); got != peekEmpty {
		t.Fatalf("peekIdle = %d after the session tickets, want peekEmpty", got)
	}
	if n, _, _ := syscall.Recvfrom(s.fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT); n > 0 || s.buffered() {
		t.Fatal("the peek left the tickets unread")
	}
	// And a real reply nobody asked for is still seen.
	if err := writeAll(s, cmd("PING"), nil, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the stray reply", func() bool { return peekIdle(s) == peekBytes })
	buf := make([]byte, 64)
	n, err := readNow(s, buf)
	if err != nil || string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("readNow = %q, %v", buf[:n], err)
	}
}

// trickleProxy forwards to addr, the server's bytes in chunks of size
// with a pause longer than a tick between them, so TLS records arrive in
// pieces across ticks.
func trickleProxy(t *testing.T, addr string, size int, pause time.Duration) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() {
				defer c.Close()
				buf := make([]byte, size)
				for {
					n, err := up.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
						time.Sleep(pause)
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestTLSRecordsSplitAcrossTicks(t *testing.T) {
	p := makePKI(t)
	o := redisTLS(t, p, false)
	o.Port = trickleProxy(t, o.Addr(), 300, 70*time.Millisecond)
	o.SocketTimeout = 5 * time.Second
	g := NewGroup(o, 1, false)
	defer g.Close()
	val := strings.Repeat("x", 3000)
	doOne(t, g, "SET", "k", val)
	if got := doOne(t, g, "GET", "k"); got[0] != bulkV(val) {
		t.Fatalf("GET returned %d bytes", len(fmt.Sprint(got[0])))
	}
}

func TestTLSVerification(t *testing.T) {
	p := makePKI(t)
	o := redisTLS(t, p, false)
	try := func(s TLSSettings, host string) error {
		oo := o
		oo.Host = host
		oo.TLS = NewTLSConfig(s)
		g := NewGroup(oo, 1, false)
		defer g.Close()
		return g.Do(request(cmd("PING")), false, 0)
	}
	var ce *ConnError
	if err := try(TLSSettings{CAFile: p.otherCA, Verify: true, CheckHost: true}, "127.0.0.1"); !errors.As(err, &ce) ||
		!strings.Contains(err.Error(), "certificate verify failed") {
		t.Fatalf("a wrong CA: %v", err)
	}
	if err := try(TLSSettings{CAFile: p.otherCA}, "127.0.0.1"); err != nil {
		t.Fatalf("not verifying: %v", err)
	}
	if err := try(TLSSettings{CAFile: p.ca, Verify: true, CheckHost: true, ServerName: "elsewhere.example"}, "127.0.0.1"); !errors.As(err, &ce) ||
		!strings.Contains(err.Error(), "certificate verify failed") {
		t.Fatalf("a wrong name: %v", err)
	}
	if err := try(TLSSettings{CAFile: p.ca, Verify: true, ServerName: "elsewhere.example"}, "127.0.0.1"); err != nil {
		t.Fatalf("a wrong name unchecked: %v", err)
	}
	if err := try(TLSSettings{CAFile: p.otherCA, Verify: true}, "127.0.0.1"); err == nil ||
		!strings.Contains(err.Error(), "certificate verify failed") {
		t.Fatalf("a wrong CA, name unchecked: %v", err)
	}
	if err := try(TLSSettings{CAFile: p.ca, Verify: true, CheckHost: true}, "localhost"); err != nil {
		t.Fatalf("localhost: %v", err)
	}
}

func TestTLSClientCertificate(t *testing.T) {
	p := makePKI(t)
	o := redisTLS(t, p, true)
	g := NewGroup(o, 1, false)
	err := g.Do(request(cmd("PING")), false, 0)
	g.Close()
	if err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("no client certificate: %v", err)
	}
	o.TLS = NewTLSConfig(TLSSettings{CAFile: p.ca, Verify: true, CheckHost: true, CertFile: p.clientCert, KeyFile: p.clientKey})
	g = NewGroup(o, 1, false)
	defer g.Close()
	if got := doOne(t, g, "PING"); got[0] != simpleV("PONG") {
		t.Fatalf("PING = %v", got)
	}
}

// A server that accepts and never speaks TLS: the handshake ends at the
// connect timeout.
func TestTLSHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			held <- c // kept open, never answered
		}
	}()
	defer func() {
		select {
		case c := <-held:
			c.Close()
		default:
		}
	}()
	o := Options{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
	o.ConnectTimeout = 300 * time.Millisecond
	o.TLS = NewTLSConfig(TLSSettings{})
	start := time.Now()
	_, err = dial(&o)
	if err != ErrTimeout {
		t.Fatalf("dial = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("the handshake gave up after %v", d)
	}
}

func TestTLSSettingsErrors(t *testing.T) {
	if err := NewTLSConfig(TLSSettings{CertFile: "/nonexistent.pem"}).Err(); err == nil || !strings.Contains(err.Error(), "ssl_certfile") {
		t.Fatalf("missing certfile: %v", err)
	}
	if err := NewTLSConfig(TLSSettings{CAFile: "/nonexistent.pem"}).Err(); err == nil || !strings.Contains(err.Error(), "ssl_ca_certs") {
		t.Fatalf("missing CA file: %v", err)
	}
}
