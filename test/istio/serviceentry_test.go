package istio

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	"istio.io/istio/pkg/config/validation"
	"istio.io/istio/pkg/webhooks/validation/server"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// dir holds the gce-metadata-address golden cases of the webhook module.
const dir = "../../pkg/mutate/testdata/gce-metadata-address"

// rejectedAsWritten lists the cases that the rule leaves unchanged on purpose
// although istiod rejects them, with istiod's reason: no rewrite can make
// them valid, so the rule warns instead. Their golden output must be rejected
// for exactly the same reason as their input, never a new one.
var rejectedAsWritten = map[string]string{
	"dns-cidr": "CIDR addresses are allowed only for NONE/STATIC resolution types",
}

// rejectedInputs are inputs istiod rejects and the rule repairs; asserting the
// rejection keeps the check honest (a validator that accepts everything would
// pass every golden file).
var rejectedInputs = map[string]string{
	"story-2018-v1alpha3":      `top level domain "254" cannot be all-numeric`,
	"ip-host-already-declared": `top level domain "254" cannot be all-numeric`,
	"unknown-fields":           `top level domain "254" cannot be all-numeric`,
	"ipv6-in-hosts":            `domain name "fd20:ce::254" invalid`,
	"slash32-dns":              "CIDR addresses are allowed only for NONE/STATIC resolution types",
}

// validate runs istiod's ServiceEntry validation on a manifest, converting it
// the way istiod's validating webhook does.
func validate(t *testing.T, path string) (validation.Warning, error) {
	t.Helper()
	return validateAs(t, path, "ServiceEntry", validation.ValidateServiceEntry)
}

// validateAs converts the manifest at path as istiod's webhook does, checks
// it is of kind, and runs istiod's validation fn on it.
func validateAs(t *testing.T, path, kind string, fn validation.ValidateFunc) (validation.Warning, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	var obj crd.IstioKind
	if err := json.Unmarshal(js, &obj); err != nil {
		t.Fatal(err)
	}
	gvk := obj.GroupVersionKind()
	s, ok := collections.PilotGatewayAPI().FindByGroupVersionAliasesKind(resource.FromKubernetesGVK(&gvk))
	if !ok || s.Kind() != kind {
		t.Fatalf("%s: %v is not a %s version istiod serves", path, gvk, kind)
	}
	cfg, err := crd.ConvertObject(s, &obj, "cluster.local")
	if err != nil {
		t.Fatalf("%s: istiod cannot convert it: %v", path, err)
	}
	return fn(config.Config(*cfg))
}

func goldens(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no golden files in %s", dir)
	}
	return files
}

func caseOf(path string) string { return strings.TrimSuffix(filepath.Base(path), ".golden.yaml") }

func TestIstiodAcceptsEveryMutatedServiceEntry(t *testing.T) {
	for _, g := range goldens(t) {
		name := caseOf(g)
		t.Run(name, func(t *testing.T) {
			warn, err := validate(t, g)
			if warn != nil {
				t.Logf("istiod warns: %v", warn)
			}
			reason, rejected := rejectedAsWritten[name]
			if !rejected {
				if err != nil {
					t.Fatalf("istiod rejects the mutated ServiceEntry: %v", err)
				}
				return
			}
			_, inErr := validate(t, filepath.Join(dir, name+".in.yaml"))
			if err == nil || !strings.Contains(err.Error(), reason) {
				t.Fatalf("want istiod to reject it with %q, got %v", reason, err)
			}
			if inErr == nil || err.Error() != inErr.Error() {
				t.Fatalf("the output is rejected for other reasons than its input:\n output: %v\n  input: %v", err, inErr)
			}
		})
	}
}

func TestIstiodRejectsTheInputsTheRuleRepairs(t *testing.T) {
	for name, reason := range rejectedInputs {
		t.Run(name, func(t *testing.T) {
			_, err := validate(t, filepath.Join(dir, name+".in.yaml"))
			if err == nil || !strings.Contains(err.Error(), reason) {
				t.Fatalf("want istiod to reject the input with %q, got %v", reason, err)
			}
			if _, err := validate(t, filepath.Join(dir, name+".golden.yaml")); err != nil {
				t.Fatalf("istiod rejects the mutated ServiceEntry: %v", err)
			}
		})
	}
}

// TestIstiodWebhookAdmitsEveryMutatedServiceEntry sends every golden file
// through istiod's validating webhook handler, as the API server would after
// meshguard's mutation: this adds istiod's decoding and its check of
// top-level fields to the ServiceEntry validation above.
func TestIstiodWebhookAdmitsEveryMutatedServiceEntry(t *testing.T) {
	mux := http.NewServeMux()
	if _, err := server.New(server.Options{Schemas: collections.PilotGatewayAPI(), DomainSuffix: "cluster.local", Mux: mux}); err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens(t) {
		name := caseOf(g)
		t.Run(name, func(t *testing.T) {
			resp := admit(t, mux, g)
			_, rejected := rejectedAsWritten[name]
			if resp.Allowed == rejected {
				t.Fatalf("istiod's webhook: allowed=%v, want %v: %+v", resp.Allowed, !rejected, resp.Result)
			}
		})
	}
	if resp := admit(t, mux, filepath.Join(dir, "story-2018-v1alpha3.in.yaml")); resp.Allowed {
		t.Errorf("istiod's webhook admits the story's 2018 ServiceEntry as written; the rule's premise is gone")
	}
}

func admit(t *testing.T, h http.Handler, path string) *admissionv1.AdmissionResponse {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "uid",
			Kind:      metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "ServiceEntry"},
			Operation: admissionv1.Create,
			Namespace: "my-app",
			Object:    runtime.RawExtension{Raw: js},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("istiod's webhook: HTTP %d: %s", rec.Code, rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("istiod's webhook answered %s (%v)", rec.Body, err)
	}
	return out.Response
}
