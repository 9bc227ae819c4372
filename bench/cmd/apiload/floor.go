package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshguard/meshguard/hack/demo/local"
)

// floorWebhook is the least any webhook costs the API server: a bare
// net/http TLS server (HTTP/1.1, keep-alive) that decodes each review with
// encoding/json and answers what meshguard answers for these objects, without
// looking at them: a warning naming the mesh for an Ingress, a JSON patch
// adding the mutated annotation for a ConfigMap. Registered with the chart's
// own configurations, it measures what the API server spends calling a
// webhook (building the review, TLS, applying the patch), which no webhook
// can avoid.
type floorWebhook struct {
	srv   *http.Server
	url   string
	caPEM []byte
}

func startFloorWebhook(dir string) (*floorWebhook, error) {
	certDir := filepath.Join(dir, "certs-floor")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	caPEM, err := local.WriteServingCert(certDir)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &floorWebhook{url: "https://" + ln.Addr().String(), caPEM: caPEM}
	f.srv = &http.Server{
		Handler:           http.HandlerFunc(floorAnswer),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
	}
	go func() { _ = f.srv.ServeTLS(ln, "", "") }()
	return f, nil
}

func (f *floorWebhook) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = f.srv.Shutdown(ctx)
}

var floorPatch = []byte(`[{"op":"add","path":"/metadata/annotations","value":{"` + mutatedAnnotation + `":"floor"}}]`)

func floorAnswer(w http.ResponseWriter, r *http.Request) {
	var in admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}
	switch in.Request.Kind.Kind {
	case "Ingress":
		resp.Warnings = []string{"floor: the namespace is in the mesh"}
	case "ConfigMap":
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = floorPatch, &pt
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: resp})
}

// configs are copies of meshguard's rendered configurations, renamed and
// pointed at the floor webhook; rules, selectors, match conditions, failure
// policies and timeouts stay the chart's.
func (f *floorWebhook) configs(v *admissionregistrationv1.ValidatingWebhookConfiguration, m *admissionregistrationv1.MutatingWebhookConfiguration) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration, error) {
	v, m = v.DeepCopy(), m.DeepCopy()
	v.ObjectMeta = metav1.ObjectMeta{Name: v.Name + "-floor"}
	m.ObjectMeta = metav1.ObjectMeta{Name: m.Name + "-floor"}
	for i := range v.Webhooks {
		if err := f.point(&v.Webhooks[i].ClientConfig); err != nil {
			return nil, nil, err
		}
	}
	for i := range m.Webhooks {
		if err := f.point(&m.Webhooks[i].ClientConfig); err != nil {
			return nil, nil, err
		}
	}
	return v, m, nil
}

func (f *floorWebhook) point(cc *admissionregistrationv1.WebhookClientConfig) error {
	if cc.URL == nil {
		return errors.New("webhook configuration without a URL")
	}
	u, err := url.Parse(*cc.URL)
	if err != nil {
		return err
	}
	s := f.url + u.Path
	cc.URL, cc.CABundle = &s, f.caPEM
	return nil
}
