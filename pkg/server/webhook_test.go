package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// testServer is a WebhookServer running on 127.0.0.1 for one test.
type testServer struct {
	port    int
	pool    *x509.CertPool
	cancel  context.CancelFunc
	stopped chan error
}

// startWebhook starts a WebhookServer with o (address and certificate
// filled in when unset) serving hooks; it is stopped when the test ends.
func startWebhook(t *testing.T, o WebhookOptions, hooks map[string]http.Handler) *testServer {
	t.Helper()
	ts := &testServer{port: freePort(t), stopped: make(chan error, 1)}
	if o.CertDir == "" {
		o.CertDir, ts.pool = writeServingCert(t)
	}
	o.Host, o.Port, o.Log = "127.0.0.1", ts.port, logr.Discard()
	srv := NewWebhookServer(o)
	for path, h := range hooks {
		srv.Register(path, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.stopped <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-ts.stopped
	})
	waitListening(t, ts.port)
	if err := srv.StartedChecker()(nil); err != nil {
		t.Fatalf("the started check fails on a listening server: %v", err)
	}
	return ts
}

func (ts *testServer) url(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", ts.port, path)
}

func (ts *testServer) client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.pool}}}
}

// stop is what the manager does on shutdown: cancel the server's context.
func (ts *testServer) stop() { ts.cancel() }

func (ts *testServer) waitStopped(t *testing.T) {
	t.Helper()
	select {
	case err := <-ts.stopped:
		ts.stopped <- err // for the cleanup
		if err != nil {
			t.Fatalf("server stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop")
	}
}

// blockUntilDone holds every review until its context ends, and reports how.
type blockUntilDone struct {
	entered chan struct{}
	ended   chan error
}

func (b blockUntilDone) Review(ctx context.Context, _ *policy.Request) (*admissionv1.AdmissionResponse, error) {
	b.entered <- struct{}{}
	<-ctx.Done()
	b.ended <- ctx.Err()
	return nil, fmt.Errorf("before rule r: %w", ctx.Err())
}

// TestReviewContextEndsWithTheCallerNotTheServer: a caller hanging up
// cancels its review at once; the server shutting down cancels nothing, so
// a review in flight runs on to its own deadline.
func TestReviewContextEndsWithTheCallerNotTheServer(t *testing.T) {
	body := reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n")})
	start := func(t *testing.T, budget time.Duration) (*testServer, blockUntilDone) {
		b := blockUntilDone{entered: make(chan struct{}, 1), ended: make(chan error, 1)}
		ts := startWebhook(t, WebhookOptions{}, map[string]http.Handler{ValidatePath: &review.Handler{Reviewer: b, Budget: budget, Log: logr.Discard()}})
		return ts, b
	}
	waitEntered := func(t *testing.T, b blockUntilDone) {
		select {
		case <-b.entered:
		case <-time.After(20 * time.Second):
			t.Fatal("the review never started")
		}
	}
	t.Run("the caller hangs up", func(t *testing.T) {
		ts, b := start(t, time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.url(ValidatePath), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		go func() {
			if resp, err := ts.client(time.Minute).Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		waitEntered(t, b)
		cancel()
		select {
		case err := <-b.ended:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the review ended with %v, want Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the review went on 10 s after its caller hung up")
		}
	})
	t.Run("the server shuts down", func(t *testing.T) {
		const budget = time.Second
		ts, b := start(t, budget)
		answered := make(chan string, 1)
		go func() {
			resp, err := ts.client(time.Minute).Post(ts.url(ValidatePath), "application/json", bytes.NewReader(body))
			if err != nil {
				answered <- err.Error()
				return
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answered <- fmt.Sprintf("HTTP %d %s", resp.StatusCode, out)
		}()
		waitEntered(t, b)
		ts.stop()
		select {
		case err := <-b.ended:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the review ended with %v at shutdown; it must run on to its deadline", err)
			}
		case <-time.After(10 * budget):
			t.Fatal("the review never ended")
		}
		if a := <-answered; !strings.Contains(a, "HTTP 503") || !strings.Contains(a, "time budget of 1s ran out") {
			t.Fatalf("the review in flight at shutdown got %s; want its own 503, delivered", a)
		}
		ts.waitStopped(t)
	})
}
