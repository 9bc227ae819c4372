package review

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
)

// untilDone blocks every review until its context ends and reports how it ended.
func untilDone(entered chan<- struct{}, ended chan<- error) Reviewer {
	return reviewerFunc(func(ctx context.Context, _ *policy.Request) (*admissionv1.AdmissionResponse, error) {
		entered <- struct{}{}
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, fmt.Errorf("before rule r: %w", ctx.Err())
	})
}

func newMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// serve runs h on 127.0.0.1 as net/http serves it, with its default base
// context, which no shutdown cancels.
func serve(t *testing.T, h *Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestCallerHangingUpStopsTheReview(t *testing.T) {
	entered, ended := make(chan struct{}, 1), make(chan error, 1)
	h := &Handler{Log: logr.Discard(), Budget: time.Minute, Reviewer: untilDone(entered, ended)}
	addr := serve(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	body := reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte(configMap)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/validate", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the review never started")
	}
	cancel() // the API server gives up: its connection closes
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the review ended with %v, want Canceled (its budget is a minute)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the review kept running 10 s after its caller hung up")
	}
}

func TestBudgetRunsOutAs503(t *testing.T) {
	entered, ended := make(chan struct{}, 1), make(chan error, 1)
	m := newMetrics(t)
	h := &Handler{Log: logr.Discard(), Budget: 300 * time.Millisecond, Metrics: m, Reviewer: untilDone(entered, ended)}
	addr := serve(t, h)
	body := reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte(configMap)})
	resp, err := http.Post("http://"+addr+"/validate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := <-ended; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the review ended with %v, want DeadlineExceeded", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(out), "the review's time budget of 300ms ran out") {
		t.Fatalf("HTTP %d %s; want 503 naming the time budget", resp.StatusCode, out)
	}
	if got := testutil.ToFloat64(m.rejected.WithLabelValues(ReasonTimeout)); got != 1 {
		t.Errorf("meshguard_rejected_total{reason=timeout} = %v, want 1", got)
	}
}

// stall opens a connection and sends a request declaring a body of declared
// bytes, but only the first few of them.
func stall(t *testing.T, addr string, declared int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /validate HTTP/1.1\r\nHost: meshguard\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"apiVersion\":", declared)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// response reads one HTTP response from conn, giving up after 10 s.
func response(conn net.Conn) (*http.Response, string, error) {
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out), nil
}

func TestStalledUploadIsCutAtTheDeadline(t *testing.T) {
	var reviewed atomic.Bool
	m := newMetrics(t)
	h := &Handler{Log: logr.Discard(), Budget: 300 * time.Millisecond, Metrics: m, Reviewer: reviewerFunc(func(context.Context, *policy.Request) (*admissionv1.AdmissionResponse, error) {
		reviewed.Store(true)
		return &admissionv1.AdmissionResponse{Allowed: true}, nil
	})}
	addr := serve(t, h)
	start := time.Now()
	resp, body, err := response(stall(t, addr, 1<<20))
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("answered after %v, before the budget ran out", waited)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "time budget of 300ms ran out while reading the body") {
		t.Fatalf("HTTP %d %s; want 503 naming the time budget", resp.StatusCode, body)
	}
	if reviewed.Load() {
		t.Error("a body never completed was reviewed")
	}
	if got := testutil.ToFloat64(m.rejected.WithLabelValues(ReasonTimeout)); got != 1 {
		t.Errorf("meshguard_rejected_total{reason=timeout} = %v, want 1", got)
	}
}

// TestByteCapTurnsExcessAway: with the large pool held by stalled uploads,
// one more large review gets a 503 with Retry-After at once, while a small
// review is still decided.
func TestByteCapTurnsExcessAway(t *testing.T) {
	m := newMetrics(t)
	h := &Handler{Log: logr.Discard(), Budget: 5 * time.Second, Metrics: m, Limiter: NewLimiter(4 << 20), // large pool: 3 MiB
		Reviewer: reviewerFunc(func(context.Context, *policy.Request) (*admissionv1.AdmissionResponse, error) {
			return &admissionv1.AdmissionResponse{Allowed: true}, nil
		})}
	addr := serve(t, h)
	type answer struct {
		status     int
		retryAfter string
		body       string
	}
	answers := make(chan answer, 4)
	for range 4 {
		conn := stall(t, addr, 1<<20)
		go func() {
			resp, body, err := response(conn)
			if err != nil {
				answers <- answer{body: err.Error()}
				return
			}
			answers <- answer{resp.StatusCode, resp.Header.Get("Retry-After"), body}
		}()
	}
	// Three fit; the fourth is the first answer, long before the others' budget.
	select {
	case a := <-answers:
		if a.status != http.StatusServiceUnavailable || a.retryAfter == "" || !strings.Contains(a.body, "overloaded") {
			t.Fatalf("the upload past the cap got HTTP %d (Retry-After %q) %s; want 503 overloaded with Retry-After", a.status, a.retryAfter, a.body)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("no upload was turned away although four 1 MiB uploads exceed the 3 MiB pool")
	}
	body := reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte(configMap)})
	resp, err := http.Post("http://"+addr+"/validate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a small review behind the stalled uploads got HTTP %d %s", resp.StatusCode, out)
	}
	if got := testutil.ToFloat64(m.rejected.WithLabelValues(ReasonOverload)); got != 1 {
		t.Errorf("meshguard_rejected_total{reason=overload} = %v, want 1", got)
	}
}
