// Package testcert makes throwaway TLS material for tests, benchmarks and the
// demo: a self-signed CA and serving certificates it signs, for loopback
// names by default. It uses the standard library only, so every module of
// the repository can import it.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Validity is how long certificates are valid by default, from an hour
// before they are made (so a clock step between processes cannot make them
// not-yet-valid): long enough for the interactive demo, short for keys that
// are thrown away.
const Validity = 7 * 24 * time.Hour

// File names of a serving certificate and key in a directory, as the
// webhook's --cert-dir and controller-runtime's webhook server expect them.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// Options choose a serving certificate. The zero value is a certificate for
// localhost, 127.0.0.1 and ::1 with a fresh P-256 key, valid for Validity.
type Options struct {
	// DNSNames and IPs are the subject alternative names; both empty means
	// localhost, 127.0.0.1 and ::1.
	DNSNames []string
	IPs      []net.IP
	// NotAfter ends the validity; zero means Validity from now.
	NotAfter time.Time
	// Key is the serving key; nil means a fresh ECDSA P-256 key. Any
	// crypto.Signer that x509.MarshalPKCS8PrivateKey accepts will do (e.g.
	// an *rsa.PrivateKey to test RSA cipher suites).
	Key crypto.Signer
}

// CA is a throwaway certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is Cert in PEM, for a webhook configuration's caBundle.
	PEM []byte
}

// Pair is a serving certificate and its key in PEM, and the CA that signed it.
type Pair struct {
	CA *CA
	// CertPEM is the serving certificate, KeyPEM its PKCS#8 key.
	CertPEM, KeyPEM []byte
}

// NewCA makes a CA valid for Validity.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	notBefore := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "meshguard-test-ca"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Issue makes a serving certificate signed by ca.
func (ca *CA) Issue(o Options) (*Pair, error) {
	key := o.Key
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("serving key: %w", err)
		}
		key = k
	}
	dns, ips := o.DNSNames, o.IPs
	if len(dns) == 0 && len(ips) == 0 {
		dns, ips = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	notBefore := time.Now().Add(-time.Hour)
	notAfter := o.NotAfter
	if notAfter.IsZero() {
		notAfter = notBefore.Add(Validity)
	}
	cn := "127.0.0.1"
	if len(dns) > 0 {
		cn = dns[0]
	} else if len(ips) > 0 {
		cn = ips[0].String()
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dns,
		IPAddresses:  ips,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		// KeyEncipherment for RSA key exchange, which servers may refuse.
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal serving key: %w", err)
	}
	return &Pair{
		CA:      ca,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// New makes a fresh CA and a serving certificate it signed.
func New(o Options) (*Pair, error) {
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	return ca.Issue(o)
}

// Write makes a fresh CA and a serving certificate (see New), writes the
// certificate and key to dir as tls.crt and tls.key, and returns the pair;
// its CA.PEM is the caBundle that trusts it.
func Write(dir string, o Options) (*Pair, error) {
	p, err := New(o)
	if err != nil {
		return nil, err
	}
	if err := p.Write(dir); err != nil {
		return nil, err
	}
	return p, nil
}

// Write writes the certificate and key to dir as tls.crt and tls.key.
func (p *Pair) Write(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, CertFile), p.CertPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, KeyFile), p.KeyPEM, 0o600)
}

// TLSCertificate is the pair for a tls.Config's Certificates.
func (p *Pair) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(p.CertPEM, p.KeyPEM)
}

// Pool is a pool trusting the pair's CA, for a client's RootCAs.
func (p *Pair) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA.Cert)
	return pool
}

// Leaf parses the serving certificate.
func (p *Pair) Leaf() (*x509.Certificate, error) {
	block, _ := pem.Decode(p.CertPEM)
	if block == nil {
		return nil, errors.New("no PEM block in the serving certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// serial returns a random 128-bit serial number; crypto/rand does not fail
// on supported platforms.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(fmt.Sprintf("serial number: %v", err))
	}
	return n
}
