package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

func startWatcher(t *testing.T, dir string) *Watcher {
	t.Helper()
	w := NewWatcher(dir, logr.Discard())
	w.poll = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher stopped with %v", err)
		}
	})
	return w
}

func TestWatcherWaitsForFilesThatDoNotExistYet(t *testing.T) {
	dir := t.TempDir()
	w := startWatcher(t, dir)
	if err := w.Ready(nil); err == nil {
		t.Fatal("Ready() = nil on an empty directory, want an error saying the certificate is missing")
	}
	if _, err := w.GetCertificate(nil); err == nil {
		t.Fatal("GetCertificate() succeeded on an empty directory, want an error so the handshake fails")
	}

	certPEM, keyPEM := newTestCA(t).issue(t, time.Now().Add(time.Hour))
	if _, err := writeKeyPair(dir, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "certificate loaded", func() bool { return w.Ready(nil) == nil })
	got, err := w.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Certificate[0], derOf(t, certPEM)) {
		t.Fatal("the served certificate is not the one written")
	}
}

func TestWatcherStopsWhileWaiting(t *testing.T) {
	w := NewWatcher(t.TempDir(), logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Start() = %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start() did not return after its context was cancelled")
	}
}

// TestRotationDropsNoRequest serves HTTPS with the watcher's certificate
// while the key pair is replaced several times (same CA, as in self mode),
// and requires every request to succeed and the new certificates to be served.
func TestRotationDropsNoRequest(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certPEM, keyPEM := ca.issue(t, time.Now().Add(time.Hour))
	if _, err := writeKeyPair(dir, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, dir)
	eventually(t, 5*time.Second, "first certificate loaded", func() bool { return w.Ready(nil) == nil })

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { io.WriteString(rw, "ok") }))
	srv.TLS = &tls.Config{}
	(&Provider{watcher: w}).ConfigureTLS(srv.TLS)
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	url := fmt.Sprintf("https://localhost:%s/", port)

	var (
		requests, failures atomic.Int64
		firstErr           sync.Once
		stop               = make(chan struct{})
		wg                 sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			// A fresh connection per request, so every request performs a
			// handshake against whatever certificate is current.
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				requests.Add(1)
				resp, err := client.Get(url)
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failures.Add(1)
					firstErr.Do(func() { t.Errorf("request failed during rotation: %v", err) })
				}
			}
		})
	}
	for i := range 3 {
		certPEM, keyPEM := ca.issue(t, time.Now().Add(time.Duration(i+2)*time.Hour))
		if _, err := writeKeyPair(dir, certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		want := derOf(t, certPEM)
		eventually(t, 15*time.Second, fmt.Sprintf("rotation %d served", i+1), func() bool {
			c := w.Certificate()
			return c != nil && bytes.Equal(c.Certificate[0], want)
		})
		time.Sleep(100 * time.Millisecond) // requests against the new certificate too
	}
	close(stop)
	wg.Wait()
	if requests.Load() == 0 || failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed during rotation, want 0 of many", failures.Load(), requests.Load())
	}
	t.Logf("%d requests, 0 failures across 3 rotations", requests.Load())
}

func derOf(t testing.TB, certPEM []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("not a PEM certificate")
	}
	return block.Bytes
}
