// Package reviewtest builds real AdmissionReview requests from manifests and
// sends them through an http.Handler, for handler tests of every rule.
package reviewtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// Req describes one admission request.
type Req struct {
	Op        admissionv1.Operation
	Object    []byte // JSON or YAML manifest; nil for DELETE
	OldObject []byte
	// Namespace, when set, overrides metadata.namespace of both objects so one
	// fixture serves every namespace of a table.
	Namespace string
	DryRun    bool
}

// Load reads a manifest from testdata, failing the test when it is missing.
func Load(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Review renders the AdmissionReview (admission.k8s.io/v1) the API server would send.
func Review(t testing.TB, r Req) []byte {
	t.Helper()
	obj, old := toJSON(t, r.Object, r.Namespace), toJSON(t, r.OldObject, r.Namespace)
	src := obj
	if src == nil {
		src = old
	}
	var u struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name, Namespace string
		} `json:"metadata"`
	}
	if err := json.Unmarshal(src, &u); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	gv, err := schema.ParseGroupVersion(u.APIVersion)
	if err != nil {
		t.Fatal(err)
	}
	dry := r.DryRun
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("uid-" + u.Metadata.Name),
		Kind:      metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: u.Kind},
		Resource:  metav1.GroupVersionResource{Group: gv.Group, Version: gv.Version},
		Name:      u.Metadata.Name,
		Namespace: u.Metadata.Namespace,
		Operation: r.Op,
		DryRun:    &dry,
		Object:    runtime.RawExtension{Raw: obj},
		OldObject: runtime.RawExtension{Raw: old},
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Post sends a raw body to the handler and returns the HTTP status and, for
// 200 answers, the decoded AdmissionReview response.
func Post(t testing.TB, h http.Handler, body []byte) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	hr := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, hr)
	if rec.Code != http.StatusOK {
		return rec.Code, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, rec.Body.String())
	}
	if out.Response == nil {
		t.Fatalf("AdmissionReview without response: %s", rec.Body.String())
	}
	return rec.Code, out.Response
}

// Send renders and posts one request, failing unless the answer is HTTP 200.
func Send(t testing.TB, h http.Handler, r Req) *admissionv1.AdmissionResponse {
	t.Helper()
	code, resp := Post(t, h, Review(t, r))
	if code != http.StatusOK {
		t.Fatalf("HTTP %d, want 200", code)
	}
	return resp
}

func toJSON(t testing.TB, b []byte, namespace string) []byte {
	t.Helper()
	if b == nil {
		return nil
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if namespace == "" {
		return j
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["metadata"] = meta
	}
	meta["namespace"] = namespace
	if j, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return j
}
