package chart

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/testcert"
)

// recorder is a webhook that allows everything and remembers which entry
// (the URL path) the API server called.
type recorder struct {
	url   string
	caPEM []byte
	mu    sync.Mutex
	seen  []string
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	cert, caPEM := selfSignedLocalhost(t)
	r := &recorder{caPEM: caPEM}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(req.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.seen = append(r.seen, strings.TrimPrefix(req.URL.Path, "/"))
	r.mu.Unlock()
	review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = nil
}

// calls returns the entries called since the last reset; the API server
// calls synchronously, so they are complete once the write returned.
func (r *recorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// selfSignedLocalhost returns a serving certificate for 127.0.0.1 and the
// PEM of the CA that signed it, for a caBundle.
func selfSignedLocalhost(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	p, err := testcert.New(testcert.Options{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := p.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return cert, p.CA.PEM
}
