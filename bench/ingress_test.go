package bench

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"
)

// variant is one way of deciding the review, built once before timing.
type variant struct {
	name string
	new  func(ctx context.Context, labels map[string]map[string]string) (Variant, error)
}

func variants() []variant {
	plain := func(f func(map[string]map[string]string) Variant) func(context.Context, map[string]map[string]string) (Variant, error) {
		return func(_ context.Context, l map[string]map[string]string) (Variant, error) { return f(l), nil }
	}
	return []variant{
		{"floor", plain(Floor)},
		{"meshguard", plain(Meshguard)},
		{"controller-runtime", plain(ControllerRuntime)},
		{"cel", func(_ context.Context, l map[string]map[string]string) (Variant, error) { return CEL(l) }},
		{"opa", OPA},
	}
}

func ingressReview(tb testing.TB) ([]byte, types.UID) {
	tb.Helper()
	body, err := LoadIngressReview("..")
	if err != nil {
		tb.Fatal(err)
	}
	var in admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &in); err != nil {
		tb.Fatal(err)
	}
	return body, in.Request.UID
}

// TestIngressDenySameDecision checks, before anything is timed, that every
// variant denies the story's Ingress in a meshed namespace and allows it in
// a plain one.
func TestIngressDenySameDecision(t *testing.T) {
	ctx := context.Background()
	body, uid := ingressReview(t)
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			run, err := v.new(ctx, Labels())
			if err != nil {
				t.Fatal(err)
			}
			out, err := run(ctx, body)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckDenied(out, uid); err != nil {
				t.Fatal(err)
			}
			// The same Ingress outside the mesh is allowed: the variants decide, they do not deny everything.
			plain := map[string]map[string]string{Namespace: nil}
			run, err = v.new(ctx, plain)
			if err != nil {
				t.Fatal(err)
			}
			out, err = run(ctx, body)
			if err != nil {
				t.Fatal(err)
			}
			var r admissionv1.AdmissionReview
			if err := json.Unmarshal(out, &r); err != nil || r.Response == nil || !r.Response.Allowed {
				t.Fatalf("outside the mesh: want allowed, got %s (%v)", out, err)
			}
		})
	}
}

// BenchmarkIngressDeny measures the decision "deny this Ingress because its
// namespace is in the mesh", raw AdmissionReview bytes in and response bytes
// out, for every variant over the same bytes and the same in-memory
// namespace labels. Each sub-benchmark first checks the decision.
func BenchmarkIngressDeny(b *testing.B) {
	ctx := context.Background()
	body, uid := ingressReview(b)
	for _, v := range variants() {
		b.Run(v.name, func(b *testing.B) {
			run, err := v.new(ctx, Labels())
			if err != nil {
				b.Fatal(err)
			}
			out, err := run(ctx, body)
			if err != nil {
				b.Fatal(err)
			}
			if err := CheckDenied(out, uid); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := run(ctx, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
