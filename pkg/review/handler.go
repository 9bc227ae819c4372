// Package review serves AdmissionReviews over HTTP: it decodes each review in
// one pass (policy.Unmarshal), hands it to a Reviewer, and writes the answer.
// It owns the failure contract: a decision is always an HTTP 200 AdmissionReview, and
// anything that is not a decision is an HTTP error status, so the webhook
// configuration's failurePolicy decides (an AdmissionReview with
// allowed=false would be a denial even under failurePolicy Ignore).
package review

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/pkg/policy"
)

// MaxBodyBytes bounds a review body: an AdmissionReview carries an object and
// its old version, each at most the API server's request limit (3 MiB).
const MaxBodyBytes = 8 << 20

// Reviewer decides one request; policy.Engine is the implementation.
type Reviewer interface {
	Review(ctx context.Context, req *policy.Request) (*admissionv1.AdmissionResponse, error)
}

// Handler is an http.Handler for one webhook path.
type Handler struct {
	Reviewer Reviewer
	// Budget bounds the work on one request; keep it well under the webhook
	// configuration's timeoutSeconds so we answer before the API server gives up.
	Budget time.Duration
	Log    logr.Logger

	// bufs recycles request body buffers; reviews arrive all day long and most are a few KiB.
	bufs sync.Pool
}

// review mirrors admission.k8s.io/v1 and v1beta1 AdmissionReview, which share one JSON shape.
type review struct {
	APIVersion string                         `json:"apiVersion"`
	Kind       string                         `json:"kind"`
	Request    *admissionv1.AdmissionRequest  `json:"request,omitempty"`
	Response   *admissionv1.AdmissionResponse `json:"response,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.fail(w, http.StatusMethodNotAllowed, "", "use POST with an AdmissionReview body")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && mediaType(ct) != "application/json" {
		h.fail(w, http.StatusUnsupportedMediaType, "", fmt.Sprintf("content type %q is not supported: send application/json", r.Header.Get("Content-Type")))
		return
	}
	buf := h.getBuf()
	defer h.putBuf(buf)
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes)); err != nil {
		h.fail(w, http.StatusBadRequest, "", "reading the body: "+err.Error())
		return
	}
	// The server's base context is cancelled at shutdown, while the server
	// still drains in-flight requests: detach so those get real decisions.
	status, uid, out := h.Answer(context.WithoutCancel(r.Context()), buf.Bytes())
	if status != http.StatusOK {
		h.fail(w, status, uid, string(out))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// Answer decides one AdmissionReview body. It returns HTTP 200 with the
// encoded AdmissionReview answer, or an error status with the message to
// report; uid is the request's, when known.
func (h *Handler) Answer(ctx context.Context, body []byte) (status int, uid string, out []byte) {
	var in review
	if err := policy.Unmarshal(body, &in); err != nil {
		return http.StatusBadRequest, "", []byte("the body is not an AdmissionReview: " + err.Error())
	}
	if err := validReview(&in); err != nil {
		return http.StatusBadRequest, "", []byte(err.Error())
	}
	uid = string(in.Request.UID)
	b := newBudget(ctx, h.budget())
	defer b.release()
	resp, err := h.Reviewer.Review(b, policy.NewRequest(in.Request))
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, policy.ErrBadObject) {
			status = http.StatusBadRequest
		}
		return status, uid, []byte(err.Error())
	}
	resp.UID = in.Request.UID
	out, err = json.Marshal(review{APIVersion: in.APIVersion, Kind: "AdmissionReview", Response: resp})
	if err != nil {
		return http.StatusInternalServerError, uid, []byte("encoding the response: " + err.Error())
	}
	return http.StatusOK, uid, out
}

// mediaType is the content type without parameters ("application/json;
// charset=utf-8" is JSON too).
func mediaType(ct string) string {
	t, _, _ := mime.ParseMediaType(ct)
	return t
}

func validReview(in *review) error {
	if in.Kind != "AdmissionReview" {
		return fmt.Errorf("the body is a %q, not an AdmissionReview", in.Kind)
	}
	if in.APIVersion != "admission.k8s.io/v1" && in.APIVersion != "admission.k8s.io/v1beta1" {
		return fmt.Errorf("AdmissionReview apiVersion %q is not supported: use admission.k8s.io/v1", in.APIVersion)
	}
	if in.Request == nil {
		return errors.New("the AdmissionReview has no request")
	}
	if in.Request.UID == "" {
		return errors.New("the AdmissionReview request has no uid")
	}
	return nil
}

func (h *Handler) budget() time.Duration {
	if h.Budget <= 0 {
		return 2 * time.Second
	}
	return h.Budget
}

func (h *Handler) getBuf() *bytes.Buffer {
	if b, ok := h.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

// putBuf returns a buffer to the pool unless a huge review grew it, so one
// large ConfigMap does not pin megabytes forever.
func (h *Handler) putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		h.bufs.Put(b)
	}
}

// fail answers with an HTTP error status and a JSON body naming the problem;
// the API server reports it and applies the webhook's failurePolicy.
func (h *Handler) fail(w http.ResponseWriter, status int, uid, msg string) {
	h.Log.Error(errors.New(msg), "review not decided", "uid", uid, "status", status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "meshguard: " + msg, "uid": uid})
}
