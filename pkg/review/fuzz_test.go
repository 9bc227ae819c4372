package review

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
)

// FuzzAnswer feeds arbitrary bodies to the review decoder: it must never
// panic, and must answer either a well-formed AdmissionReview carrying the
// request's uid or an HTTP error status — never anything in between.
func FuzzAnswer(f *testing.F) {
	f.Add(reviewtest.Review(f, reviewtest.Req{Op: admissionv1.Create, Object: []byte(configMap)}))
	f.Add(reviewtest.Review(f, reviewtest.Req{Op: admissionv1.Update, Object: []byte(configMap), OldObject: []byte(configMap)}))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","object":null}}`))
	f.Add([]byte(`{"kind":"AdmissionReview","request":{"uid":"u","object":{"metadata":[]}}}`))
	f.Add([]byte(`[]`))
	h := &Handler{Log: logr.Discard(), Reviewer: reviewerFunc(func(_ context.Context, req *policy.Request) (*admissionv1.AdmissionResponse, error) {
		var v struct {
			policy.ObjectHead
			Data map[string]string `json:"data"`
		}
		if err := req.Decode(&v); err != nil {
			return nil, err
		}
		if _, err := req.Meta(); err != nil {
			return nil, err
		}
		return &admissionv1.AdmissionResponse{Allowed: true}, nil
	})}
	f.Fuzz(func(t *testing.T, body []byte) {
		status, uid, out := h.Answer(context.Background(), body)
		if status != http.StatusOK {
			if status < 400 || status > 599 {
				t.Fatalf("status %d is neither a decision nor an error", status)
			}
			return
		}
		var rev admissionv1.AdmissionReview
		if err := json.Unmarshal(out, &rev); err != nil || rev.Response == nil {
			t.Fatalf("HTTP 200 without an AdmissionReview answer: %v %s", err, out)
		}
		if string(rev.Response.UID) != uid || uid == "" {
			t.Fatalf("answer uid %q, request uid %q", rev.Response.UID, uid)
		}
	})
}
