package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// wideDeployment is a Deployment whose template has n containers, each
// with an HTTP readiness and liveness probe, and probe rewriting off.
func wideDeployment(n int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: wide, namespace: shop}\nspec:\n  selector: {matchLabels: {app: wide}}\n  template:\n    metadata:\n      labels: {app: wide}\n      annotations: {sidecar.istio.io/rewriteAppHTTPProbers: \"false\"}\n    spec:\n      containers:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - name: c%d\n        image: registry.example.com/c:%d\n        ports: [{name: http, containerPort: %d}]\n        env: [{name: MODE, value: production}, {name: LOG, value: json}]\n        resources: {requests: {cpu: 10m, memory: 32Mi}}\n        readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 5}\n        livenessProbe: {httpGet: {path: /healthz, port: %d}}\n", i, i, 8000+i, 8000+i)
	}
	return []byte(b.String())
}

// BenchmarkProbeRewrite measures probe-rewrite-disabled on a 20-container
// Deployment in a STRICT namespace, raw review in and response out. floor
// is the least a Go webhook must do for this decision: decode the review
// and the Deployment with encoding/json into the typed API object, look at
// the annotation and the probes, encode an answer.
func BenchmarkProbeRewrite(b *testing.B) {
	body := reviewtest.Review(b, reviewtest.Req{Op: admissionv1.Create, Object: wideDeployment(20)})
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var in admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &in); err != nil {
				b.Fatal(err)
			}
			var d appsv1.Deployment
			if err := json.Unmarshal(in.Request.Object.Raw, &d); err != nil {
				b.Fatal(err)
			}
			warn := false
			if d.Spec.Template.Annotations["sidecar.istio.io/rewriteAppHTTPProbers"] == "false" {
				for _, c := range d.Spec.Template.Spec.Containers {
					warn = warn || c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil
				}
			}
			out := admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}}
			if warn {
				out.Response.Warnings = []string{"probes refused"}
			}
			if _, err := json.Marshal(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("meshguard", func(b *testing.B) {
		rule := ProbeRewriteDisabled{Namespaces: mapLabels{"shop": {"istio-injection": "enabled"}}, Peers: peers{shopStrict}}
		engine := policy.NewEngine(policy.Config{Rules: policy.Rules{Validating: []policy.Validator{rule}}, Modes: policy.Modes{Default: policy.Enforce}, Log: logr.Discard()})
		h := &review.Handler{Reviewer: engine, Log: logr.Discard()}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			status, _, out := h.Answer(ctx, body)
			if status != http.StatusOK || !bytes.Contains(out, []byte("never become ready")) {
				b.Fatalf("no warning: %d %s", status, out)
			}
		}
	})
}
