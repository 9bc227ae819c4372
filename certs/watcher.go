package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// waitLogEvery spaces the "still waiting for the certificate" log lines.
const waitLogEvery = 30 * time.Second

// Watcher serves the certificate in a directory to the webhook server.
//
// It wraps controller-runtime's certwatcher, which reloads the files when they
// change (including a Secret volume's atomic symlink swap, and with a periodic
// re-read as a fallback) and keeps serving the previous certificate while a
// new pair is incomplete, so a rotation drops no request. Unlike certwatcher
// alone it tolerates files that do not exist yet: a Secret volume or the self
// mode's rotator fills the directory after the process starts. Until then
// handshakes fail and readiness says why, so no traffic is routed here.
type Watcher struct {
	cert, key string
	poll      time.Duration
	log       logr.Logger
	current   atomic.Pointer[certwatcher.CertWatcher]
}

// NewWatcher watches tls.crt and tls.key in dir.
func NewWatcher(dir string, log logr.Logger) *Watcher {
	return &Watcher{
		cert: filepath.Join(dir, CertFile),
		key:  filepath.Join(dir, KeyFile),
		poll: time.Second,
		log:  log,
	}
}

// Start waits for a loadable key pair, then watches it until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	ticker := time.NewTicker(w.poll)
	defer ticker.Stop()
	var lastLog time.Time
	for {
		err := bothExist(w.cert, w.key)
		if err == nil {
			// Only now: every failed read counts in certwatcher's error metric.
			var cw *certwatcher.CertWatcher
			if cw, err = certwatcher.New(w.cert, w.key); err == nil {
				w.current.Store(cw)
				w.log.Info("serving certificate loaded", "cert", w.cert)
				return cw.Start(ctx)
			}
		}
		if time.Since(lastLog) >= waitLogEvery {
			w.log.Info("waiting for the serving certificate; readiness stays false until it can be loaded", "cert", w.cert, "key", w.key, "reason", err.Error())
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica
// serves its own certificate.
func (*Watcher) NeedLeaderElection() bool { return false }

// GetCertificate is the webhook server's tls.Config.GetCertificate.
func (w *Watcher) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := w.Certificate(); cert != nil {
		return cert, nil
	}
	return nil, w.missing()
}

// Certificate returns the certificate the server currently serves, nil before
// the first one is loaded.
func (w *Watcher) Certificate() *tls.Certificate {
	cw := w.current.Load()
	if cw == nil {
		return nil
	}
	cert, _ := cw.GetCertificate(nil) // never fails once loaded
	return cert
}

// Ready is a readiness check: true once a certificate is being served.
func (w *Watcher) Ready(_ *http.Request) error {
	if w.Certificate() == nil {
		return w.missing()
	}
	return nil
}

func (w *Watcher) missing() error {
	return fmt.Errorf("no serving certificate yet: waiting for a valid key pair in %s and %s", w.cert, w.key)
}

func bothExist(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return err
		}
	}
	return nil
}
