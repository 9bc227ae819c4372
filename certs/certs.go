package certs

import (
	"crypto/tls"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Provider is the webhook server's certificate source for one Config.
type Provider struct {
	cfg     Config
	watcher *Watcher
	log     logr.Logger
	// rotatorReady is the self mode's readiness check, kept for tests.
	rotatorReady healthz.Checker
}

// New validates cfg and returns its Provider.
func New(cfg Config, log logr.Logger) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Provider{cfg: cfg, watcher: NewWatcher(cfg.Dir, log), log: log}, nil
}

// ConfigureTLS is an entry for webhook.Options.TLSOpts: the server takes its
// certificate from the Provider instead of watching the directory itself,
// which would fail at start while the directory is still empty.
func (p *Provider) ConfigureTLS(cfg *tls.Config) {
	cfg.GetCertificate = p.watcher.GetCertificate
}

// Setup adds the certificate machinery to mgr before it starts: the file
// watcher, the expiry gauge on controller-runtime's metrics registry, the
// readiness checks, and in self mode the rotator.
func (p *Provider) Setup(mgr manager.Manager) error {
	return p.setup(mgr, metrics.Registry)
}

func (p *Provider) setup(mgr manager.Manager, reg prometheus.Registerer) error {
	if err := RegisterExpiry(reg, p.watcher.Certificate); err != nil {
		return fmt.Errorf("registering %s: %w", ExpiryMetric, err)
	}
	if err := mgr.Add(p.watcher); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("certificate", p.watcher.Ready); err != nil {
		return err
	}
	if p.cfg.Mode != Self {
		return nil
	}
	check, err := addSelf(mgr, p.cfg, p.log.WithName("cert-rotator"))
	if err != nil {
		return err
	}
	p.rotatorReady = check
	return mgr.AddReadyzCheck("cert-rotator", check)
}
