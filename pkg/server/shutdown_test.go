package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
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
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/internal/testcert"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// gate holds every review until released, so the test can shut the server
// down while reviews are provably in flight.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func (g gate) Review(ctx context.Context, _ *policy.Request) (*admissionv1.AdmissionResponse, error) {
	g.entered <- struct{}{}
	<-g.release
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Code: 403, Message: "[gate] denied"}}, nil
}

func TestShutdownFinishesInFlightReviews(t *testing.T) {
	const n = 16
	g := gate{entered: make(chan struct{}, n), release: make(chan struct{})}
	ts := startWebhook(t, WebhookOptions{}, map[string]http.Handler{ValidatePath: &review.Handler{Reviewer: g, Log: logr.Discard()}})
	client := ts.client(30 * time.Second)
	url := ts.url(ValidatePath)

	body := reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n")})
	var wg sync.WaitGroup
	results := make(chan string, n)
	for range n {
		wg.Go(func() { results <- post(client, url, body) })
	}
	for range n {
		select {
		case <-g.entered:
		case <-time.After(20 * time.Second):
			t.Fatal("requests did not reach the handler")
		}
	}
	ts.stop() // what SIGTERM does to the manager once the readiness delay has passed
	time.Sleep(100 * time.Millisecond)
	close(g.release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != "decided" {
			t.Errorf("an in-flight review was not decided: %s", r)
		}
	}
	ts.waitStopped(t)
}

func post(c *http.Client, url string, body []byte) string {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Response == nil {
		return fmt.Sprintf("HTTP %d (%v)", resp.StatusCode, err)
	}
	if out.Response.Result == nil || out.Response.Result.Message != "[gate] denied" {
		return fmt.Sprintf("unexpected answer %+v", out.Response.Result)
	}
	return "decided"
}

func TestReadinessTurnsFalseBeforeTheServerStops(t *testing.T) {
	l := &lifecycle{delay: 3 * time.Second, log: logr.Discard()}
	parent, cancel := context.WithCancel(context.Background())
	child := l.run(parent)
	if err := l.readyz(nil); err != nil {
		t.Fatalf("ready before shutdown: %v", err)
	}
	cancel()
	deadline := time.After(2 * time.Second)
	for l.readyz(nil) == nil {
		select {
		case <-deadline:
			t.Fatal("readiness did not turn false on shutdown")
		case <-time.After(time.Millisecond):
		}
	}
	if child.Err() != nil {
		t.Fatal("the manager was stopped before readiness had a chance to remove the endpoint")
	}
	select {
	case <-child.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the manager was never stopped")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	for range 200 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("webhook server did not start listening")
}

// writeServingCert writes a serving certificate for 127.0.0.1 as
// tls.crt/tls.key and returns the directory and a pool trusting it.
func writeServingCert(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	return writeServingCertWith(t, nil)
}

// writeServingCertWith is writeServingCert with the given key (nil: a fresh
// ECDSA key).
func writeServingCertWith(t *testing.T, key crypto.Signer) (string, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	p, err := testcert.Write(dir, testcert.Options{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return dir, p.Pool()
}

// TestDrainingClosesKeepAliveConnections: once draining, every answer says
// Connection: close and the server closes that connection, so a client's
// next request opens a new one (to a ready replica) instead of reusing one
// that the server is about to close. Before draining, connections are kept.
func TestDrainingClosesKeepAliveConnections(t *testing.T) {
	l := &lifecycle{delay: time.Hour, log: logr.Discard()}
	srv := httptest.NewServer(l.closeWhenDraining(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})))
	defer srv.Close()
	var conns atomic.Int32
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conns.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	// closes reports whether the answer said Connection: close.
	closes := func() bool {
		t.Helper()
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Close
	}
	closes()
	if closes() || conns.Load() != 1 {
		t.Fatalf("before draining: %d connections for 2 requests, want keep-alive on 1", conns.Load())
	}
	l.draining.Store(true)
	if !closes() {
		t.Fatal("draining: the answer does not say Connection: close")
	}
	closes()
	if n := conns.Load(); n != 2 {
		t.Fatalf("draining: %d connections after 4 requests, want the one kept before draining plus one per answer after it (2): the closed one must not be reused", n)
	}
}
