package hostile

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// answer is what the webhook said to one request.
type answer struct {
	status  int
	took    time.Duration
	size    int // bytes of the body
	allowed bool
	patch   []byte
	warns   []string
	message string // the denial, or the error body of a non-200
}

// poster sends AdmissionReviews to one webhook process over HTTPS.
type poster struct {
	w      *harness.Webhook
	client *http.Client
}

func newPoster(w *harness.Webhook) *poster {
	return &poster{w: w, client: &http.Client{
		Timeout:   60 * time.Second, // far past the budget: a hang must show up as a slow answer, not a client error
		Transport: &http.Transport{TLSClientConfig: tlsConfig(w), MaxIdleConnsPerHost: 16},
	}}
}

// tlsConfig trusts the harness's CA, as the API server trusts caBundle.
func tlsConfig(w *harness.Webhook) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CABundle)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// review renders the AdmissionReview of a CREATE of obj in namespace ns.
func review(t testing.TB, group, version, kind, ns string, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	resource := map[string]string{"ConfigMap": "configmaps", "ServiceEntry": "serviceentries", "Ingress": "ingresses"}[kind]
	b, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": fmt.Sprintf("hostile-%d", time.Now().UnixNano()), "operation": "CREATE", "namespace": ns,
			"kind":     map[string]string{"group": group, "version": version, "kind": kind},
			"resource": map[string]string{"group": group, "version": version, "resource": resource},
			"userInfo": map[string]any{"username": "namespace-user"},
			"object":   json.RawMessage(raw),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends body to path and reads the answer.
func (p *poster) post(ctx context.Context, path string, body []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.w.URL(path), bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, took: time.Since(start), size: len(data)}
	if err != nil {
		return a, err
	}
	if resp.StatusCode != http.StatusOK {
		a.message = string(data)
		return a, nil
	}
	var out struct {
		Response struct {
			Allowed  bool     `json:"allowed"`
			Patch    []byte   `json:"patch"`
			Warnings []string `json:"warnings"`
			Status   *struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return a, fmt.Errorf("HTTP 200 that is not an AdmissionReview: %v: %.200s", err, data)
	}
	a.allowed, a.patch, a.warns = out.Response.Allowed, out.Response.Patch, out.Response.Warnings
	if out.Response.Status != nil {
		a.message = out.Response.Status.Message
	}
	return a, nil
}

// mustPost posts and fails the test on a transport error.
func (p *poster) mustPost(t testing.TB, path string, body []byte) answer {
	t.Helper()
	a, err := p.post(context.Background(), path, body)
	if err != nil {
		t.Fatalf("POST %s (%d bytes): %v", path, len(body), err)
	}
	return a
}
