package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

type allowAll struct{}

func (allowAll) Review(context.Context, *policy.Request) (*admissionv1.AdmissionResponse, error) {
	return &admissionv1.AdmissionResponse{Allowed: true}, nil
}

// TestWebhookServerProtocolAndMetrics: by default the server offers only
// HTTP/1.1, even to a client that prefers HTTP/2; EnableHTTP2 lets it
// negotiate HTTP/2. Either way every review is counted in controller-runtime's
// own webhook metrics, which meshguard's handler must keep working.
func TestWebhookServerProtocolAndMetrics(t *testing.T) {
	for _, tc := range []struct {
		enableHTTP2 bool
		wantProto   int
	}{{false, 1}, {true, 2}} {
		t.Run(fmt.Sprintf("EnableHTTP2=%v", tc.enableHTTP2), func(t *testing.T) {
			o := Options{EnableHTTP2: tc.enableHTTP2}
			ts := startWebhook(t, WebhookOptions{TLSOpts: o.tlsOpts()}, map[string]http.Handler{ValidatePath: &review.Handler{Reviewer: allowAll{}, Log: logr.Discard()}})

			before := webhookRequests(t, ValidatePath, "200")
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: ts.pool},
				ForceAttemptHTTP2: true, // offers h2 first, as kube-apiserver's client does
			}}
			defer client.CloseIdleConnections()
			body := reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n")})
			resp, err := client.Post(ts.url(ValidatePath), "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d: %s", resp.StatusCode, out)
			}
			if resp.ProtoMajor != tc.wantProto {
				t.Errorf("negotiated %s, want HTTP/%d", resp.Proto, tc.wantProto)
			}
			if after := webhookRequests(t, ValidatePath, "200"); after != before+1 {
				t.Errorf("controller_runtime_webhook_requests_total{webhook=%q,code=\"200\"} went from %v to %v, want one more", ValidatePath, before, after)
			}
		})
	}
}

// webhookRequests reads controller-runtime's request counter for one path and code.
func webhookRequests(t *testing.T, path, code string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "controller_runtime_webhook_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "webhook") == path && label(m, "code") == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
