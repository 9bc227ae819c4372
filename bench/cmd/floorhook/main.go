// Command floorhook is the least any admission webhook costs the API server,
// for bench/cmd/apiload: a bare net/http TLS server (HTTP/1.1, keep-alive)
// that decodes each review with encoding/json and answers what meshguard
// answers for the benchmark's objects without looking at them: a warning
// naming the mesh for an Ingress, a JSON patch adding the mutated annotation
// for a ConfigMap. It runs in its own process, as meshguard does, so neither
// shares a Go runtime with the load's clients.
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

var patch = []byte(`[{"op":"add","path":"/metadata/annotations","value":{"` + mutatedAnnotation + `":"floor"}}]`)

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
		resp.Warnings = []string{"floor: the namespace is in the mesh"}
	case "ConfigMap":
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: resp})
}
