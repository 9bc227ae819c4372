// Command floorhook is the least a webhook giving meshguard's answers costs
// the API server, for bench/cmd/apiload: a bare net/http TLS server
// (HTTP/1.1, keep-alive) that decodes each review with encoding/json and,
// without analysing anything, answers the benchmark's objects as meshguard
// does: for an Ingress a warning of the same length, for a ConfigMap the same
// change (its nginx value with one more line, and the mutated annotation)
// and a warning of the same length, for a ServiceEntry naming the metadata
// server its address and the annotation, and a warning of the same length. The answer's content costs the API
// server too (applying a patch to data, recording warnings), so the floor
// gives the same one. It runs in its own process, as meshguard does, so
// neither shares a Go runtime with the load's clients.
//
// It serves tls.crt and tls.key from -cert-dir on a free loopback port and
// prints "listening on HOST:PORT" once it accepts connections.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// mutatedAnnotation is the annotation meshguard's mutating rules set.
const mutatedAnnotation = "meshguard.dev/mutated"

// nginxKey is the ConfigMap key apiload writes its nginx configuration under.
const nginxKey = "default.conf"

// Warnings as long as meshguard's for the same objects; "floor: " marks them.
const (
	ingressWarning      = "floor: Ingress is served by Istio (kubernetes.io/ingress.class: istio) and works, but Istio recommends the Kubernetes Gateway API: use a Gateway (gatewayClassName: istio) and an HTTPRoute; a warning as long as meshguard's"
	serviceEntryWarning = "floor: ServiceEntry \"b-1\": added 169.254.169.254 to spec.addresses; metadata.google.internal only reaches the metadata server through the sidecar when its address 169.254.169.254 is declared in spec.addresses; make the same change in your source manifest"
	configMapWarning    = "floor: ConfigMap key \"default.conf\": line 3: insert \"proxy_http_version 1.1;\" (proxy_pass http://web in location /); Envoy answers HTTP/1.0 requests with 426 Upgrade Required; make the same change in your source manifest"
)

func main() {
	certDir := flag.String("cert-dir", "", "directory holding tls.crt and tls.key")
	flag.Parse()
	if err := run(*certDir); err != nil {
		fmt.Fprintln(os.Stderr, "floorhook:", err)
		os.Exit(1)
	}
}

func run(certDir string) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(answer),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	return srv.ServeTLS(ln, "", "")
}

func answer(w http.ResponseWriter, r *http.Request) {
	var in admissionv1.AdmissionReview
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&in); err != nil || in.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}
	switch in.Request.Kind.Kind {
	case "Ingress":
		resp.Warnings = []string{ingressWarning}
	case "ConfigMap":
		var cm struct {
			Data map[string]string `json:"data"`
		}
		if err := json.Unmarshal(in.Request.Object.Raw, &cm); err != nil {
			http.Error(w, "not a ConfigMap", http.StatusBadRequest)
			return
		}
		patch, err := json.Marshal([]map[string]any{
			{"op": "replace", "path": "/data/" + nginxKey, "value": cm.Data[nginxKey] + "# proxy_http_version 1.1;\n"},
			{"op": "add", "path": "/metadata/annotations", "value": map[string]string{mutatedAnnotation: "floor"}},
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType, resp.Warnings = patch, &pt, []string{configMapWarning}
	case "ServiceEntry":
		// apiload's entries name only the metadata server and declare no
		// addresses: meshguard adds its address and the annotation.
		patch, err := json.Marshal([]map[string]any{
			{"op": "add", "path": "/spec/addresses", "value": []string{"169.254.169.254"}},
			{"op": "add", "path": "/metadata/annotations", "value": map[string]string{mutatedAnnotation: "floor"}},
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType, resp.Warnings = patch, &pt, []string{serviceEntryWarning}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: resp})
}
