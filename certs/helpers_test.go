package certs

import (
	"testing"
	"time"

	"github.com/meshguard/meshguard/internal/testcert"
)

// testCA signs serving certificates for the tests.
type testCA struct {
	*testcert.CA
	pem []byte
}

func newTestCA(t testing.TB) testCA {
	t.Helper()
	ca, err := testcert.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return testCA{CA: ca, pem: ca.PEM}
}

// issue returns a PEM serving certificate for localhost that expires at
// notAfter, and its key.
func (ca testCA) issue(t testing.TB, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	p, err := ca.Issue(testcert.Options{DNSNames: []string{"localhost"}, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return p.CertPEM, p.KeyPEM
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
