package certs

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/prometheus/client_golang/prometheus"
)

// ExpiryMetric is the name of the gauge with the serving certificate's NotAfter.
const ExpiryMetric = "meshguard_cert_expiry_timestamp_seconds"

// expiryCollector reads the certificate at scrape time, so the gauge always
// describes the certificate the server is serving right now, whatever
// replaced it. It reports no sample before a certificate is loaded: a zero
// would look like an expired certificate to every alert.
type expiryCollector struct {
	desc *prometheus.Desc
	cert func() *tls.Certificate
}

// RegisterExpiry registers meshguard_cert_expiry_timestamp_seconds on reg,
// computed from the certificate cert returns (nil: none yet).
func RegisterExpiry(reg prometheus.Registerer, cert func() *tls.Certificate) error {
	return reg.Register(expiryCollector{
		desc: prometheus.NewDesc(ExpiryMetric,
			"Expiry (NotAfter, Unix seconds) of the TLS certificate the webhook server is serving; absent until one is loaded.",
			nil, nil),
		cert: cert,
	})
}

func (c expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c expiryCollector) Collect(ch chan<- prometheus.Metric) {
	leaf := leafOf(c.cert())
	if leaf == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()))
}

// leafOf returns the parsed leaf of cert; tls.X509KeyPair fills Leaf, a
// hand-built certificate may not.
func leafOf(cert *tls.Certificate) *x509.Certificate {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	if cert.Leaf != nil {
		return cert.Leaf
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}
