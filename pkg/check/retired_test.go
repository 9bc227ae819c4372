package check

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestRetiredIngressAPIs: an Ingress in a removed API version is denied as
// such (the API server refuses it), and the rules judge it as the
// networking.k8s.io/v1 Ingress it becomes: the gce one in a meshed namespace
// is denied by ingress-in-mesh too.
func TestRetiredIngressAPIs(t *testing.T) {
	r := run(t, Options{}, "retired/ingresses.yaml")
	want := []string{
		"retired/ingresses.yaml:9 [retired-api] deny",
		"retired/ingresses.yaml:9 [ingress-in-mesh] deny",
		"retired/ingresses.yaml:21 [retired-api] deny",
	}
	if got := brief(r); !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range r.Findings() {
		if f.Rule == RetiredAPIRule && !strings.Contains(f.Message, "removed in 1.22") {
			t.Errorf("message %q", f.Message)
		}
	}
	if r.ExitCode() != ExitFindings {
		t.Errorf("exit %d, want %d", r.ExitCode(), ExitFindings)
	}
}

func TestRetiredIngressConversion(t *testing.T) {
	o := &Object{Kind: "Ingress", APIVersion: "extensions/v1beta1", Name: "x", raw: []byte(`{
		"apiVersion":"extensions/v1beta1","kind":"Ingress","metadata":{"name":"x"},
		"spec":{"backend":{"serviceName":"web","servicePort":80},
		"rules":[{"http":{"paths":[{"path":"/a","backend":{"serviceName":"api","servicePort":"http"}},
		{"path":"/b","pathType":"Prefix","backend":{"resource":{"kind":"Bucket","name":"b"}}}]}}]}}`)}
	v1, ok, err := retired(o)
	if !ok || err != nil {
		t.Fatalf("retired: %v %v", ok, err)
	}
	var got map[string]any
	if err := json.Unmarshal(v1, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"x"},"spec":{"defaultBackend":{"service":{"name":"web","port":{"number":80}}},"rules":[{"http":{"paths":[{"backend":{"service":{"name":"api","port":{"name":"http"}}},"path":"/a","pathType":"ImplementationSpecific"},{"backend":{"resource":{"kind":"Bucket","name":"b"}},"path":"/b","pathType":"Prefix"}]}}]}}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("converted:\n%s\nwant:\n%s", b, want)
	}
	if _, ok, _ := retired(&Object{Kind: "Ingress", APIVersion: "networking.k8s.io/v1"}); ok {
		t.Error("a v1 Ingress counted as retired")
	}
}
