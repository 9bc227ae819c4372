// Package review serves AdmissionReviews over HTTP: it decodes each review in
// one pass (policy.Unmarshal), hands it to a Reviewer, and writes the answer.
// It owns the failure contract: a decision is always an HTTP 200 AdmissionReview, and
// anything that is not a decision is an HTTP error status, so the webhook
// configuration's failurePolicy decides (an AdmissionReview with
// allowed=false would be a denial even under failurePolicy Ignore).
package review

import (
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

// DefaultBudget is a review's time budget when Handler.Budget is not set.
const DefaultBudget = 2 * time.Second

// Reviewer decides one request; policy.Engine is the implementation.
type Reviewer interface {
	Review(ctx context.Context, req *policy.Request) (*admissionv1.AdmissionResponse, error)
}

// Handler is an http.Handler for one webhook path. A review stops when its
// caller hangs up (the request's context is cancelled); the server must
// therefore not cancel request contexts when it shuts down, or in-flight
// reviews would end undecided while it drains (package server sees to that).
type Handler struct {
	Reviewer Reviewer
	// Budget bounds one review from the moment the handler starts: waiting
	// for room under Limiter, reading the body and the rules. Keep it well
	// under the webhook configuration's timeoutSeconds so we answer before
	// the API server gives up.
	Budget time.Duration
	Log    logr.Logger
	// Limiter caps the bytes held by reviews in flight; share one among all
	// paths of a server. Nil: no cap.
	Limiter *Limiter
	// Metrics counts reviews turned away for load or time; nil: not counted.
	Metrics *Metrics

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

// Answer decides one AdmissionReview body within the handler's budget. It
// returns HTTP 200 with the encoded AdmissionReview answer, or an error
// status with the message to report; uid is the request's, when known.
func (h *Handler) Answer(ctx context.Context, body []byte) (status int, uid string, out []byte) {
	status, uid, out, _ = h.answer(ctx, body, time.Now().Add(h.budget()))
	return status, uid, out
}

// answer is Answer under a deadline set by the caller; reason says why an
// error status is not about the review's content (see Metrics), if it is not.
func (h *Handler) answer(ctx context.Context, body []byte, deadline time.Time) (status int, uid string, out []byte, reason string) {
	var in review
	if err := policy.Unmarshal(body, &in); err != nil {
		return http.StatusBadRequest, "", []byte("the body is not an AdmissionReview: " + err.Error()), ""
	}
	if err := validReview(&in); err != nil {
		return http.StatusBadRequest, "", []byte(err.Error()), ""
	}
	uid = string(in.Request.UID)
	b := newBudgetUntil(ctx, deadline)
	defer b.release()
	resp, err := h.Reviewer.Review(b, policy.NewRequest(in.Request))
	if err != nil {
		status, reason, msg := h.failure(err, b.Err())
		return status, uid, []byte(msg), reason
	}
	resp.UID = in.Request.UID
	out, err = json.Marshal(review{APIVersion: in.APIVersion, Kind: "AdmissionReview", Response: resp})
	if err != nil {
		return http.StatusInternalServerError, uid, []byte("encoding the response: " + err.Error()), ""
	}
	return http.StatusOK, uid, out, ""
}

// failure maps a Reviewer's error to an HTTP error status; ctxErr is the
// review context's state when the error came back. Running out of time and
// a caller that hung up are 503s: the review may well pass when retried, and
// no reading of them is a denial.
func (h *Handler) failure(err, ctxErr error) (status int, reason, msg string) {
	switch {
	case errors.Is(err, policy.ErrBadObject):
		return http.StatusBadRequest, "", err.Error()
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctxErr, context.DeadlineExceeded):
		// A client-go call can fail on the deadline without wrapping it
		// (its rate limiter does), hence the look at the context too.
		return http.StatusServiceUnavailable, ReasonTimeout, fmt.Sprintf("the review's time budget of %s ran out: %v", h.budget(), err)
	case errors.Is(ctxErr, context.Canceled):
		return http.StatusServiceUnavailable, ReasonClientGone, "the client went away: " + err.Error()
	}
	return http.StatusInternalServerError, "", err.Error()
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
		return DefaultBudget
	}
	return h.Budget
}
