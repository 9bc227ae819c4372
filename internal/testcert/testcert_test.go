package testcert

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteServesLoopback(t *testing.T) {
	dir := t.TempDir()
	p, err := Write(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.CA.PEM) {
		t.Fatal("CA PEM does not parse")
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com"}); err == nil {
		t.Error("verified for example.com")
	}
}

func TestIssueOptions(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Now().Add(time.Hour).Truncate(time.Second)
	p, err := ca.Issue(Options{DNSNames: []string{"svc.ns.svc"}, IPs: []net.IP{net.IPv4(10, 0, 0, 1)}, NotAfter: notAfter, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := p.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.NotAfter.Equal(notAfter) {
		t.Errorf("NotAfter = %s, want %s", leaf.NotAfter, notAfter)
	}
	if _, ok := leaf.PublicKey.(*rsa.PublicKey); !ok {
		t.Errorf("public key %T, want RSA", leaf.PublicKey)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: p.Pool(), DNSName: "svc.ns.svc"}); err != nil {
		t.Error(err)
	}
	if _, err := p.TLSCertificate(); err != nil {
		t.Error(err)
	}
}
