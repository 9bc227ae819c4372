package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// TestTLSFloor: the server speaks TLS 1.2 or later and, in TLS 1.2, only
// ECDHE with AEAD. The certificate is RSA, so a CBC or RSA-key-exchange
// suite would match it: only the server's configuration can refuse them,
// as the control against Go's defaults shows.
func TestTLSFloor(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir, pool := writeServingCertWith(t, key)
	ts := startWebhook(t, WebhookOptions{CertDir: dir}, map[string]http.Handler{ValidatePath: &review.Handler{Reviewer: allowAll{}, Log: logr.Discard()}})
	addr := fmt.Sprintf("127.0.0.1:%d", ts.port)
	dial := func(c *tls.Config) error {
		c.RootCAs = pool
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, c)
		if err == nil {
			conn.Close()
		}
		return err
	}
	refused := map[string]*tls.Config{
		"TLS 1.1":                              {MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
		"ECDHE-RSA-AES128-CBC-SHA":             {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}},
		"ECDHE-RSA-AES128-CBC-SHA256":          {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}},
		"RSA key exchange (AES128-GCM-SHA256)": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
	}
	for name, c := range refused {
		if err := dial(c); err == nil {
			t.Errorf("a %s client completed the handshake", name)
		}
	}
	for name, c := range map[string]*tls.Config{"default": {}, "TLS 1.2": {MaxVersion: tls.VersionTLS12}} {
		if err := dial(c); err != nil {
			t.Errorf("a %s client was refused: %v", name, err)
		}
	}

	// Control: Go's own defaults accept a CBC-SHA1 client with this
	// certificate, so the refusal above is the server's doing.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(dir+"/tls.crt", dir+"/tls.key")
		return &c, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	addr = ln.Addr().String()
	if err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}); err != nil {
		t.Logf("control: Go's defaults refuse the CBC client too (%v); the test above proves less", err)
	}
}

func TestSecureTLSOnlyNarrows(t *testing.T) {
	c := &tls.Config{MinVersion: tls.VersionTLS13}
	SecureTLS(c)
	if c.MinVersion != tls.VersionTLS13 {
		t.Errorf("SecureTLS lowered a TLS 1.3 minimum to %x", c.MinVersion)
	}
	c = &tls.Config{MinVersion: tls.VersionTLS10, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}}
	SecureTLS(c)
	if c.MinVersion != tls.VersionTLS12 || len(c.CipherSuites) != 1 || c.CipherSuites[0] != tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("SecureTLS left min version %x, suites %v; want TLS 1.2 and the GCM suite alone", c.MinVersion, c.CipherSuites)
	}
}

// TestOnlyExactPathsAreServed: the registered paths as sent are served;
// anything else, however it would clean up, is a 404 with a JSON error,
// never a redirect.
func TestOnlyExactPathsAreServed(t *testing.T) {
	hook := &review.Handler{Reviewer: allowAll{}, Log: logr.Discard()}
	ts := startWebhook(t, WebhookOptions{}, map[string]http.Handler{ValidatePath: hook, MutatePath: hook})
	body := reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n")})
	send := func(method, target string) (int, string) {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ts.port), &tls.Config{RootCAs: ts.pool})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", method, target, len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	for _, target := range []string{ValidatePath, MutatePath, ValidatePath + "?timeout=3s"} {
		if status, out := send(http.MethodPost, target); status != http.StatusOK {
			t.Errorf("POST %s: HTTP %d %s, want 200", target, status, out)
		}
	}
	for _, target := range []string{"/x/../validate", "//validate", "/validate/", "/./validate", "/validate/.", "/mutate/..", "/%76alidate", "/VALIDATE", "/", "/metrics", "/validatex"} {
		status, out := send(http.MethodPost, target)
		var e struct{ Error string }
		if status != http.StatusNotFound || json.Unmarshal([]byte(out), &e) != nil || !strings.Contains(e.Error, "no webhook at") {
			t.Errorf("POST %s: HTTP %d %s; want 404 with a JSON error", target, status, out)
		}
	}
	if status, out := send(http.MethodOptions, "*"); status != http.StatusNotFound {
		t.Errorf("OPTIONS *: HTTP %d %s, want 404", status, out)
	}
}

// countAll allows every review and counts them.
type countAll struct{ n *atomic.Int64 }

func (c countAll) Review(context.Context, *policy.Request) (*admissionv1.AdmissionResponse, error) {
	c.n.Add(1)
	return &admissionv1.AdmissionResponse{Allowed: true}, nil
}

// TestSmallReviewsGetThroughSlowUploads: 100 clients upload large bodies
// slowly (each declares 4 MiB, sends one byte and stalls) and come back
// whenever they are turned away. Meanwhile every valid small review is
// decided, every upload ends in a 503 (turned away under the byte cap, or
// cut when the budget runs out) and none is ever reviewed.
func TestSmallReviewsGetThroughSlowUploads(t *testing.T) {
	const uploaders = 100
	var reviewed atomic.Int64
	reg := prometheus.NewRegistry()
	m, err := review.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := &review.Handler{Reviewer: countAll{&reviewed}, Budget: 2 * time.Second, Limiter: review.NewLimiter(32 << 20), Metrics: m, Log: logr.Discard()}
	ts := startWebhook(t, WebhookOptions{}, map[string]http.Handler{ValidatePath: h})
	stop := make(chan struct{})
	other := make(chan string, uploaders)
	var wg sync.WaitGroup
	for range uploaders {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if status := slowUpload(ts, 4<<20); status != "503" {
					other <- status
					return
				}
			}
		})
	}
	rejected := func(reason string) float64 { return counter(t, reg, "meshguard_rejected_total", "reason", reason) }
	for start := time.Now(); rejected(review.ReasonOverload) < uploaders; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("only %v uploads were turned away in 30 s", rejected(review.ReasonOverload))
		}
	}
	// Small reviews for longer than the budget, so that uploads are cut and
	// others take their place meanwhile.
	client := ts.client(10 * time.Second)
	body := reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n")})
	decided := int64(0)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); decided++ {
		resp, err := client.Post(ts.url(ValidatePath), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("a small review failed among slow uploads: %v", err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a small review among slow uploads got HTTP %d %s", resp.StatusCode, out)
		}
	}
	close(stop)
	wg.Wait()
	close(other)
	for status := range other {
		t.Errorf("a slow upload got %s, want 503", status)
	}
	if got := reviewed.Load(); got != decided {
		t.Errorf("%d reviews ran for %d small reviews sent: an upload that never finished was reviewed", got, decided)
	}
	if rejected(review.ReasonTimeout) == 0 {
		t.Error("no admitted upload was cut when its budget ran out")
	}
	t.Logf("%d small reviews decided; uploads turned away %v times, cut at the deadline %v times", decided, rejected(review.ReasonOverload), rejected(review.ReasonTimeout))
}

// slowUpload sends a review declaring declared bytes, sends one and stalls;
// it returns the status it gets, or the error.
func slowUpload(ts *testServer, declared int) string {
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ts.port), &tls.Config{RootCAs: ts.pool})
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", ValidatePath, declared); err != nil {
		return err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err.Error()
	}
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

// counter reads one counter of reg by one label.
func counter(t *testing.T, reg prometheus.Gatherer, name, key, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetName() == name && label(m, key) == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
