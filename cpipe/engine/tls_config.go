package engine

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// TLSSettings are a client's TLS options, named after redis-py's ssl_*
// options (the JSON names are what the bridge sends, cpipe/_tls.py).
type TLSSettings struct {
	CertFile    string `json:"certfile"` // client certificate chain (PEM); may hold the key too
	KeyFile     string `json:"keyfile"`  // its private key (PEM); "": in CertFile
	KeyPassword string `json:"password"` // for a legacy-encrypted PEM key
	CAFile      string `json:"ca_certs"` // CA certificates (PEM) that verify the server
	CAPath      string `json:"ca_path"`  // a directory of them
	CAData      string `json:"ca_data"`  // PEM text of them
	Verify      bool   `json:"verify"`   // verify the server's certificate (ssl_cert_reqs not 'none')
	CheckHost   bool   `json:"check_hostname"`
	MinVersion  uint16 `json:"min_version"` // tls.VersionTLS12, ...; 0: crypto/tls's default
	MaxVersion  uint16 `json:"max_version"`
	// ServerName, when set, is the name checked (and sent as SNI) instead
	// of the host each connect dials.
	ServerName string `json:"server_hostname"`
}

// TLSConfig is what Options.TLS holds: the settings made into a
// crypto/tls configuration once. A settings error (a file that cannot be
// read) is kept and fails every connect with a ConnError naming it; the
// Python layer loads the same files with the ssl module first, so a bad
// option is normally refused when the client is made.
type TLSConfig struct {
	base  *tls.Config
	roots *x509.CertPool // nil: the system's
	s     TLSSettings
	err   error
}

// TLSFromJSON makes a TLSConfig from the bridge's JSON text of TLSSettings.
func TLSFromJSON(text string) *TLSConfig {
	var s TLSSettings
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return &TLSConfig{err: fmt.Errorf("bad TLS settings from the bridge: %w", err)}
	}
	return NewTLSConfig(s)
}

// NewTLSConfig loads the certificates s names.
func NewTLSConfig(s TLSSettings) *TLSConfig {
	c := &TLSConfig{s: s}
	c.base, c.err = c.build()
	return c
}

// Err is the settings' error, if any.
func (c *TLSConfig) Err() error { return c.err }

func (c *TLSConfig) build() (*tls.Config, error) {
	s := c.s
	cfg := &tls.Config{
		MinVersion: s.MinVersion,
		MaxVersion: s.MaxVersion,
		// Full-size records from the first byte: a pipeline is a bulk
		// transfer, and small records cost a syscall and a seal each.
		DynamicRecordSizingDisabled: true,
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if s.CertFile != "" {
		cert, err := loadKeyPair(s.CertFile, s.KeyFile, s.KeyPassword)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	} else if s.KeyFile != "" {
		return nil, errors.New("ssl_keyfile needs ssl_certfile")
	}
	if s.CAFile != "" || s.CAPath != "" || s.CAData != "" {
		c.roots = x509.NewCertPool()
		if s.CAFile != "" {
			b, err := os.ReadFile(s.CAFile)
			if err != nil {
				return nil, fmt.Errorf("reading ssl_ca_certs: %w", err)
			}
			if !c.roots.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("ssl_ca_certs %s holds no PEM certificate", s.CAFile)
			}
		}
		if s.CAPath != "" {
			if err := addCADir(c.roots, s.CAPath); err != nil {
				return nil, err
			}
		}
		if s.CAData != "" && !c.roots.AppendCertsFromPEM([]byte(s.CAData)) {
			return nil, errors.New("ssl_ca_data holds no PEM certificate")
		}
	}
	cfg.RootCAs = c.roots
	if !s.Verify || !s.CheckHost {
		// crypto/tls verifies chain and name together or not at all: without
		// the name check, the chain is verified here instead.
		cfg.InsecureSkipVerify = true
		if s.Verify {
			cfg.VerifyConnection = c.verifyChain
		}
	}
	return cfg, nil
}

// verifyChain checks the server's chain against the roots, not its name
// (ssl_check_hostname=False with certificates verified).
func (c *TLSConfig) verifyChain(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: c.roots, Intermediates: x509.NewCertPool()}
	for _, ic := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(ic)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

// forHost is the configuration for one connect to host.
func (c *TLSConfig) forHost(host string) (*tls.Config, error) {
	if c.err != nil {
		return nil, c.err
	}
	cfg := c.base.Clone()
	cfg.ServerName = host
	if c.s.ServerName != "" {
		cfg.ServerName = c.s.ServerName
	}
	return cfg, nil
}

// loadKeyPair reads a certificate chain and its key; the key may be in
// the certificate's file, and may be encrypted the legacy PEM way
// (Proc-Type: 4,ENCRYPTED; openssl ... -traditional). crypto/tls cannot
// decrypt an encrypted PKCS#8 key ("ENCRYPTED PRIVATE KEY"): that is refused by name.
func loadKeyPair(certFile, keyFile, password string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading ssl_certfile: %w", err)
	}
	keyPEM := certPEM
	if keyFile != "" {
		if keyPEM, err = os.ReadFile(keyFile); err != nil {
			return tls.Certificate{}, fmt.Errorf("reading ssl_keyfile: %w", err)
		}
	}
	if keyPEM, err = decryptKey(keyPEM, password); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading ssl_certfile/ssl_keyfile: %w", err)
	}
	return cert, nil
}

// decryptKey returns keyPEM with an encrypted key block decrypted.
func decryptKey(keyPEM []byte, password string) ([]byte, error) {
	var out []byte
	for rest := keyPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("ssl_keyfile holds an encrypted PKCS#8 key, which cpipe's engine cannot decrypt; " +
				"re-encrypt it the legacy PEM way (openssl rsa -aes256 -traditional) or decrypt it")
		case x509.IsEncryptedPEMBlock(b): //nolint:staticcheck // the legacy format is the one redis users have
			if password == "" {
				return nil, errors.New("ssl_keyfile is encrypted: ssl_password is needed")
			}
			der, err := x509.DecryptPEMBlock(b, []byte(password)) //nolint:staticcheck
			if err != nil {
				return nil, fmt.Errorf("decrypting ssl_keyfile with ssl_password: %w", err)
			}
			b = &pem.Block{Type: b.Type, Bytes: der}
		}
		out = append(out, pem.EncodeToMemory(b)...)
	}
	return out, nil
}

// addCADir adds every PEM certificate in the files of dir (ssl_ca_path).
func addCADir(pool *x509.CertPool, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading ssl_ca_path: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			pool.AppendCertsFromPEM(b)
		}
	}
	return nil
}
