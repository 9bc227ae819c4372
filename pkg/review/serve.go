package review

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// ServeHTTP implements http.Handler. The review runs under the request's
// context, so it stops when the caller hangs up, and under one deadline
// measured from here that covers the wait for room, the body and the rules.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	deadline := time.Now().Add(h.budget())
	if r.Method != http.MethodPost {
		h.fail(w, http.StatusMethodNotAllowed, "", "use POST with an AdmissionReview body")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && mediaType(ct) != "application/json" {
		h.fail(w, http.StatusUnsupportedMediaType, "", fmt.Sprintf("content type %q is not supported: send application/json", r.Header.Get("Content-Type")))
		return
	}
	if r.ContentLength > MaxBodyBytes {
		h.reject(w, ReasonTooLarge, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the body of %d bytes exceeds the limit of %d bytes", r.ContentLength, MaxBodyBytes))
		return
	}
	c, ok := h.Limiter.acquire(r.Context(), declaredSize(r), admissionWait(h.budget()))
	if !ok {
		// Retry-After is for clients that honour it; the API server applies
		// failurePolicy to the 503.
		w.Header().Set("Retry-After", "1")
		h.reject(w, ReasonOverload, http.StatusServiceUnavailable, "", fmt.Sprintf("overloaded: no room for a review of %d bytes under the cap on bytes held by reviews in flight (--max-in-flight-bytes)", declaredSize(r)))
		return
	}
	defer c.release()
	buf := h.getBuf()
	defer h.putBuf(buf)
	if status, reason, msg := h.readBody(w, r, buf, deadline); status != 0 {
		h.reject(w, reason, status, "", msg)
		return
	}
	status, uid, out, reason := h.answer(r.Context(), buf.Bytes(), deadline)
	if status != http.StatusOK {
		h.reject(w, reason, status, uid, string(out))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// declaredSize is what a review is charged: its Content-Length, or the most
// a body may be when it declares none (chunked), since it may grow to that.
func declaredSize(r *http.Request) int64 {
	if r.ContentLength >= 0 {
		return r.ContentLength
	}
	return MaxBodyBytes
}

// readBody reads the body into buf by the review's deadline; status is 0
// when it did. The deadline is set on the connection for this read only and
// cleared after it: http.Server.ReadTimeout would also end the background
// read that notices a caller hanging up, which cancels the request's context
// at that moment whether the caller is still there or not.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, deadline time.Time) (status int, reason, msg string) {
	rc := http.NewResponseController(w)
	// ErrNotSupported (a writer without a connection, as in unit tests)
	// leaves the read unbounded; the server's writers all support it.
	_ = rc.SetReadDeadline(deadline)
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	_ = rc.SetReadDeadline(time.Time{})
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return 0, "", ""
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusServiceUnavailable, ReasonTimeout, fmt.Sprintf("the review's time budget of %s ran out while reading the body (%d bytes read)", h.budget(), buf.Len())
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, ReasonTooLarge, fmt.Sprintf("the body exceeds the limit of %d bytes", MaxBodyBytes)
	case r.Context().Err() != nil:
		return http.StatusServiceUnavailable, ReasonClientGone, "the client went away while sending the body: " + err.Error()
	}
	return http.StatusBadRequest, "", "reading the body: " + err.Error()
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

// reject is fail for a review turned away for load or time (reason set),
// which is counted as such.
func (h *Handler) reject(w http.ResponseWriter, reason string, status int, uid, msg string) {
	if reason != "" {
		h.Metrics.reject(reason)
	}
	h.fail(w, status, uid, msg)
}

// fail answers with an HTTP error status and a JSON body naming the problem;
// the API server reports it and applies the webhook's failurePolicy.
func (h *Handler) fail(w http.ResponseWriter, status int, uid, msg string) {
	h.Log.Error(errors.New(msg), "review not decided", "uid", uid, "status", status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "meshguard: " + msg, "uid": uid})
}
