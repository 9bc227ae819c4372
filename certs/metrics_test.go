package certs

import (
	"crypto/tls"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestExpiryGauge(t *testing.T) {
	ca := newTestCA(t)
	notAfter := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	certPEM, keyPEM := ca.issue(t, notAfter)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	withoutLeaf := pair
	withoutLeaf.Leaf = nil

	tests := map[string]struct {
		cert *tls.Certificate
		want string // exposition text; empty means no sample
	}{
		"no certificate loaded yet reports no sample rather than a zero": {cert: nil},
		"a loaded certificate reports its NotAfter":                      {cert: &pair, want: expiryText(notAfter)},
		"a certificate without a parsed leaf is parsed on scrape":        {cert: &withoutLeaf, want: expiryText(notAfter)},
		"a certificate with no DER reports no sample":                    {cert: &tls.Certificate{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			if err := RegisterExpiry(reg, func() *tls.Certificate { return tc.cert }); err != nil {
				t.Fatal(err)
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tc.want), ExpiryMetric); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestExpiryGaugeRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	none := func() *tls.Certificate { return nil }
	if err := RegisterExpiry(reg, none); err != nil {
		t.Fatal(err)
	}
	if err := RegisterExpiry(reg, none); err == nil {
		t.Fatal("registering the gauge twice on one registry succeeded, want an error")
	}
}

func expiryText(notAfter time.Time) string {
	return "# HELP " + ExpiryMetric + " Expiry (NotAfter, Unix seconds) of the TLS certificate the webhook server is serving; absent until one is loaded.\n" +
		"# TYPE " + ExpiryMetric + " gauge\n" +
		ExpiryMetric + " " + strconv.FormatInt(notAfter.Unix(), 10) + "\n"
}
