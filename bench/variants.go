// Package bench compares meshguard's validating path with the other ways
// users write the same admission decision: the least any Go webhook must do
// (floor), a stock controller-runtime webhook, the ValidatingAdmissionPolicy
// CEL validator inside a webhook, and OPA Rego. Every variant takes the raw
// AdmissionReview bytes and returns the encoded response bytes.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
	"github.com/meshguard/meshguard/pkg/validate"
)

// Variant decides one AdmissionReview: raw request bytes in, response bytes out.
type Variant func(ctx context.Context, body []byte) ([]byte, error)

// Namespace is the namespace the benchmark Ingress is created in.
const Namespace = "injected"

// IngressManifest is the story's Ingress (GKE, global static IP), shared with pkg/validate.
const IngressManifest = "pkg/validate/testdata/ingress-gce-static-ip.yaml"

// Labels are the namespace labels every variant reads from memory.
func Labels() map[string]map[string]string {
	return map[string]map[string]string{
		Namespace: {"istio-injection": "enabled"},
		"plain":   nil,
	}
}

// IngressReview renders the AdmissionReview (admission.k8s.io/v1) the API
// server sends for a CREATE of the manifest in namespace ns.
func IngressReview(manifest []byte, ns string) ([]byte, error) {
	obj, err := yaml.YAMLToJSON(manifest)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		return nil, errors.New("manifest has no metadata")
	}
	meta["namespace"] = ns
	if obj, err = json.Marshal(m); err != nil {
		return nil, err
	}
	name, _ := meta["name"].(string)
	dry := false
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("uid-" + name),
			Kind:      metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
			Resource:  metav1.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
			Name:      name,
			Namespace: ns,
			Operation: admissionv1.Create,
			DryRun:    &dry,
			Object:    runtime.RawExtension{Raw: obj},
		},
	})
}

// LoadIngressReview reads the story's Ingress relative to the repository root
// and renders its review in the meshed namespace.
func LoadIngressReview(root string) ([]byte, error) {
	manifest, err := os.ReadFile(root + "/" + IngressManifest)
	if err != nil {
		return nil, err
	}
	return IngressReview(manifest, Namespace)
}

// CheckDenied verifies that out is an AdmissionReview answering uid with allowed=false.
func CheckDenied(out []byte, uid types.UID) error {
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("response is not an AdmissionReview: %v: %s", err, out)
	}
	if r.Kind != "AdmissionReview" || r.APIVersion != "admission.k8s.io/v1" {
		return fmt.Errorf("response is a %s %s: %s", r.APIVersion, r.Kind, out)
	}
	switch {
	case r.Response == nil:
		return fmt.Errorf("AdmissionReview without response: %s", out)
	case r.Response.UID != uid:
		return fmt.Errorf("response uid %q, want %q", r.Response.UID, uid)
	case r.Response.Allowed:
		return fmt.Errorf("allowed, want a denial: %s", out)
	}
	return nil
}

// Floor is the least any Go webhook must do: decode the review with
// encoding/json, check a label, encode an answer (as pkg/validate's floor).
func Floor(labels map[string]map[string]string) Variant {
	return func(_ context.Context, body []byte) ([]byte, error) {
		var in admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		if in.Request == nil {
			return nil, errors.New("no request")
		}
		out := admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}}
		if labels[in.Request.Namespace]["istio-injection"] == "enabled" {
			out.Response.Allowed = false
			out.Response.Result = &metav1.Status{Code: 403, Message: "denied"}
		}
		return json.Marshal(out)
	}
}

// MapLabels is a mesh.Namespaces over an in-memory map.
type MapLabels map[string]map[string]string

// NamespaceLabels implements mesh.Namespaces.
func (m MapLabels) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	return m[name], nil
}

// MapClasses is a validate.IngressClasses over an in-memory map of class name to controller.
type MapClasses map[string]string

// IngressClassController implements validate.IngressClasses.
func (m MapClasses) IngressClassController(_ context.Context, name string) (string, bool, error) {
	c, ok := m[name]
	return c, ok, nil
}

// Classes are the IngressClasses of the benchmark cluster.
func Classes() MapClasses {
	return MapClasses{"nginx": "k8s.io/ingress-nginx", "istio-gw": validate.IstioIngressController}
}

// MeshguardHandler is meshguard's review.Handler with the Ingress rule over in-memory namespaces and classes.
func MeshguardHandler(labels map[string]map[string]string, m *policy.Metrics) *review.Handler {
	engine := policy.NewEngine(policy.Config{
		Rules:   policy.Rules{Validating: []policy.Validator{validate.IngressInMesh{Namespaces: MapLabels(labels), Classes: Classes()}}},
		Modes:   policy.Modes{Default: policy.Enforce},
		Metrics: m,
		Log:     logr.Discard(),
	})
	return &review.Handler{Reviewer: engine, Log: logr.Discard()}
}

// Meshguard is review.Handler.Answer, the path behind meshguard's ServeHTTP.
func Meshguard(labels map[string]map[string]string) Variant {
	h := MeshguardHandler(labels, nil)
	return func(ctx context.Context, body []byte) ([]byte, error) {
		status, _, out := h.Answer(ctx, body)
		if status != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d: %s", status, out)
		}
		return out, nil
	}
}

// crHandler is how controller-runtime webhooks are usually written: decode
// the object with admission.Decoder, look the namespace up, answer Denied.
type crHandler struct {
	decoder admission.Decoder
	labels  map[string]map[string]string
}

func (h *crHandler) Handle(_ context.Context, req admission.Request) admission.Response {
	var ing networkingv1.Ingress
	if err := h.decoder.Decode(req, &ing); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if h.labels[req.Namespace]["istio-injection"] != "enabled" || ing.Annotations[validate.IngressClassAnnotation] == validate.IstioIngressClass {
		return admission.Allowed("")
	}
	return admission.Denied(fmt.Sprintf("Ingress %q is not allowed in namespace %q: the namespace is in the Istio mesh", ing.Name, req.Namespace))
}

// ControllerRuntime is a stock admission.Webhook served through its
// ServeHTTP with an in-memory request and response writer.
func ControllerRuntime(labels map[string]map[string]string) Variant {
	scheme := runtime.NewScheme()
	if err := networkingv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	wh := &admission.Webhook{Handler: &crHandler{decoder: admission.NewDecoder(scheme), labels: labels}}
	header := http.Header{"Content-Type": {"application/json"}}
	return func(ctx context.Context, body []byte) ([]byte, error) {
		r := (&http.Request{Method: http.MethodPost, Header: header, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}).WithContext(ctx)
		w := &recorder{}
		wh.ServeHTTP(w, r)
		if w.code != 0 && w.code != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d: %s", w.code, w.body.Bytes())
		}
		return w.body.Bytes(), nil
	}
}

// recorder is the least http.ResponseWriter.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

// namespaces turns the label map into Namespace objects, as an informer would hold them.
func namespaces(labels map[string]map[string]string) map[string]*corev1.Namespace {
	out := make(map[string]*corev1.Namespace, len(labels))
	for name, l := range labels {
		out[name] = &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	}
	return out
}

var ingressGVR = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
