package review

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
)

// reviewerFunc adapts a function to Reviewer.
type reviewerFunc func(ctx context.Context, req *policy.Request) (*admissionv1.AdmissionResponse, error)

func (f reviewerFunc) Review(ctx context.Context, req *policy.Request) (*admissionv1.AdmissionResponse, error) {
	return f(ctx, req)
}

const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\n"

func TestHandlerAnswers(t *testing.T) {
	decodeObject := reviewerFunc(func(_ context.Context, req *policy.Request) (*admissionv1.AdmissionResponse, error) {
		var v struct {
			Data map[string]string `json:"data"`
		}
		if err := req.Decode(&v); err != nil {
			return nil, err
		}
		return &admissionv1.AdmissionResponse{Allowed: true}, nil
	})
	valid := reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte(configMap)})
	withObject := func(raw string) []byte {
		return bytes.Replace(valid, []byte(`"object":{`), []byte(`"object":`+raw+`,"unused":{`), 1)
	}
	tests := map[string]struct {
		method, contentType string
		body                []byte
		reviewer            Reviewer
		status              int
		errorText           string
	}{
		"a valid review gets a decision with the request's uid": {
			body: valid, reviewer: decodeObject, status: http.StatusOK},
		"GET is refused": {
			method: http.MethodGet, body: valid, status: http.StatusMethodNotAllowed, errorText: "use POST"},
		"a non-JSON content type is refused": {
			contentType: "text/plain", body: valid, status: http.StatusUnsupportedMediaType, errorText: `content type "text/plain"`},
		"a body that is not JSON is a 400 naming the problem": {
			body: []byte("{not json"), status: http.StatusBadRequest, errorText: "the body is not an AdmissionReview"},
		"a body of another kind is a 400": {
			body: []byte(`{"apiVersion":"v1","kind":"ConfigMap"}`), status: http.StatusBadRequest, errorText: `the body is a "ConfigMap", not an AdmissionReview`},
		"an unknown AdmissionReview version is a 400": {
			body: []byte(`{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"x"}}`), status: http.StatusBadRequest, errorText: "admission.k8s.io/v2"},
		"a review without request is a 400": {
			body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), status: http.StatusBadRequest, errorText: "has no request"},
		"a request without uid is a 400": {
			body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`), status: http.StatusBadRequest, errorText: "has no uid"},
		"an object that does not decode as its kind is a 400": {
			body: withObject(`{"data":["not","a","map"]}`), reviewer: decodeObject, status: http.StatusBadRequest, errorText: "does not decode as ConfigMap"},
		"a missing object is a 400": {
			body: reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, OldObject: []byte(configMap)}), reviewer: decodeObject, status: http.StatusBadRequest, errorText: "request.object is missing"},
		"an internal failure is a 500, never an AdmissionReview denial": {
			body: valid, status: http.StatusInternalServerError, errorText: "namespace unreadable",
			reviewer: reviewerFunc(func(context.Context, *policy.Request) (*admissionv1.AdmissionResponse, error) {
				return nil, errors.New("namespace unreadable")
			})},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := &Handler{Reviewer: tc.reviewer, Log: logr.Discard()}
			method, ct := tc.method, tc.contentType
			if method == "" {
				method = http.MethodPost
			}
			if ct == "" {
				ct = "application/json"
			}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(method, "/validate", bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", ct)
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == http.StatusOK {
				var out admissionv1.AdmissionReview
				if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
					t.Fatalf("not an AdmissionReview answer: %v %s", err, rec.Body)
				}
				if out.Response.UID != "uid-cm" || out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
					t.Fatalf("answer must echo uid and apiVersion: %s", rec.Body)
				}
				return
			}
			var e struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body is not JSON: %v %s", err, rec.Body)
			}
			if !strings.Contains(e.Error, tc.errorText) {
				t.Fatalf("error %q lacks %q", e.Error, tc.errorText)
			}
		})
	}
}

func TestHandlerAnswersV1beta1InKind(t *testing.T) {
	body := bytes.Replace(reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte(configMap)}),
		[]byte(`"apiVersion":"admission.k8s.io/v1"`), []byte(`"apiVersion":"admission.k8s.io/v1beta1"`), 1)
	h := &Handler{Log: logr.Discard(), Reviewer: reviewerFunc(func(context.Context, *policy.Request) (*admissionv1.AdmissionResponse, error) {
		return &admissionv1.AdmissionResponse{Allowed: true}, nil
	})}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"apiVersion":"admission.k8s.io/v1beta1"`) {
		t.Fatalf("a v1beta1 review must be answered in v1beta1: %s", rec.Body)
	}
}

// TestHandlerStopsForAGoneClient: the review runs under the request's
// context, so a caller that hung up ends it, and the answer nobody reads is
// a 503, never a denial.
func TestHandlerStopsForAGoneClient(t *testing.T) {
	var seen error
	h := &Handler{Log: logr.Discard(), Reviewer: reviewerFunc(func(ctx context.Context, _ *policy.Request) (*admissionv1.AdmissionResponse, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, fmt.Errorf("no time budget on the review context")
		}
		seen = ctx.Err()
		return nil, fmt.Errorf("before rule r: %w", seen)
	})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // what net/http does to the request's context when the caller hangs up
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/validate", bytes.NewReader(reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte(configMap)})))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if !errors.Is(seen, context.Canceled) {
		t.Fatalf("the review context was not cancelled with the request: %v", seen)
	}
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "the client went away") {
		t.Fatalf("status %d, body %s; want 503 naming the client", rec.Code, rec.Body)
	}
}

// TestHandlerRefusesADeclaredBodyPastTheLimit answers 413 from the
// Content-Length alone, before reading or charging anything.
func TestHandlerRefusesADeclaredBodyPastTheLimit(t *testing.T) {
	h := &Handler{Log: logr.Discard(), Reviewer: reviewerFunc(func(context.Context, *policy.Request) (*admissionv1.AdmissionResponse, error) {
		t.Error("the reviewer ran for a body past the limit")
		return nil, nil
	})}
	req := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = MaxBodyBytes + 1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413; body %s", rec.Code, rec.Body)
	}
}
