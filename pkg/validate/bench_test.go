package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// BenchmarkIngressDeny measures the validating path on the decision "deny this
// Ingress because its namespace is in the mesh", raw review bytes in and
// response bytes out. floor is the least any Go webhook must do: decode the
// review with encoding/json, check a label, encode an answer.
func BenchmarkIngressDeny(b *testing.B) {
	body := reviewtest.Review(b, reviewtest.Req{Op: admissionv1.Create, Namespace: "injected", Object: reviewtest.Load(b, "testdata/ingress-gce-static-ip.yaml")})
	labels := map[string]map[string]string{"injected": {"istio-injection": "enabled"}}

	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var in admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &in); err != nil {
				b.Fatal(err)
			}
			out := admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}}
			if labels[in.Request.Namespace]["istio-injection"] == "enabled" {
				out.Response.Allowed = false
				out.Response.Result = &metav1.Status{Code: 403, Message: "denied"}
			}
			if _, err := json.Marshal(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("meshguard", func(b *testing.B) {
		c := fake.NewClientBuilder().WithObjects(clusterObjects()...).Build()
		reader := cluster.Reader{Cache: c, API: c}
		benchHandler(b, body, mapLabels(labels), reader)
	})
}

type mapLabels map[string]map[string]string

func (m mapLabels) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	return m[name], nil
}

func benchHandler(b *testing.B, body []byte, ns mapLabels, classes IngressClasses) {
	engine := policy.NewEngine(policy.Config{Rules: policy.Rules{Validating: []policy.Validator{IngressInMesh{Namespaces: ns, Classes: classes}}}, Modes: policy.Modes{Default: policy.Enforce}, Log: logr.Discard()})
	h := &review.Handler{Reviewer: engine, Log: logr.Discard()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		status, _, out := h.Answer(ctx, body)
		if status != http.StatusOK || !bytes.Contains(out, []byte(`"allowed":false`)) {
			b.Fatalf("not a denial: %d %s", status, out)
		}
	}
}
