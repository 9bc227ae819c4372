package mutate

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/golden"
	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// BenchmarkServiceEntry measures the mutating path on the story's
// ServiceEntry (which gets patched), raw review bytes in and response bytes
// out. floor is the least any Go webhook must do: decode the review with
// encoding/json, look at the object, encode an answer.
func BenchmarkServiceEntry(b *testing.B) {
	obj := reviewtest.Load(b, filepath.Join(gceDir, "story-2018-v1alpha3"+golden.InSuffix))
	body := reviewtest.Review(b, reviewtest.Req{Op: admissionv1.Create, Object: obj})

	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var in admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &in); err != nil {
				b.Fatal(err)
			}
			out := admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}}
			if in.Request.Kind.Kind == "ServiceEntry" && bytes.Contains(in.Request.Object.Raw, []byte("metadata.google.internal")) {
				out.Response.Warnings = []string{"names the metadata server"}
			}
			if _, err := json.Marshal(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("meshguard", func(b *testing.B) {
		engine := policy.NewEngine(policy.Config{Rules: policy.Rules{Mutating: []policy.Mutator{GCEMetadataAddress{}}}, Modes: policy.Modes{Default: policy.Enforce}, Log: logr.Discard()})
		h := &review.Handler{Reviewer: engine, Log: logr.Discard()}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			status, _, out := h.Answer(ctx, body)
			if status != http.StatusOK || !bytes.Contains(out, []byte(`"patch":`)) {
				b.Fatalf("not a patch: %d %s", status, out)
			}
		}
	})
}
