package mutate

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/golden"
	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
)

const nginxDir = "testdata/nginx-http11"

// namespaceLabels serves fixed labels; a missing namespace is an error, as
// an unreadable one would be.
type namespaceLabels map[string]map[string]string

func (n namespaceLabels) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	l, ok := n[name]
	if !ok {
		return nil, errors.New("namespace " + name + " unreadable")
	}
	return l, nil
}

var testNamespaces = namespaceLabels{
	"my-app": {"istio-injection": "enabled"},
	"plain":  {},
}

func nginxHandler(t testing.TB, modes policy.Modes) (http.Handler, *prometheus.Registry) {
	t.Helper()
	return handler(t, modes, NginxHTTP11{Namespaces: testNamespaces, Mesh: mesh.Options{}})
}

func TestNginxHTTP11Golden(t *testing.T) {
	h, _ := nginxHandler(t, policy.Modes{Default: policy.Enforce})
	golden.Run(t, h, nginxDir, *update)
}

func TestNginxHTTP11(t *testing.T) {
	enforce, audit := policy.Modes{Default: policy.Enforce}, policy.Modes{Default: policy.Audit}
	tests := map[string]struct {
		modes     policy.Modes
		file      string
		namespace string
		patched   bool
		warnings  []string
		audit     []string
	}{
		"enforce patches and names the key, line and reason": {
			modes: enforce, file: "story-conf-d.in.yaml", patched: true,
			warnings: []string{`[nginx-http11] ConfigMap "my-nginx" key "default.conf": line `, `insert "proxy_http_version 1.1;"`, "426 Upgrade Required", "source manifest"}},
		"an explicit 1.0 is reported as the token it changes": {
			modes: enforce, file: "explicit-http10.in.yaml", patched: true,
			warnings: []string{`"proxy_http_version 1.0;" → "proxy_http_version 1.1;"`}},
		"audit shows the exact would-be change and patches nothing": {
			modes: audit, file: "story-conf-d.in.yaml",
			warnings: []string{`[nginx-http11] (audit) would change (not applied): ConfigMap "my-nginx" key "default.conf": line `, `insert "proxy_http_version 1.1;"`},
			audit:    []string{`would change: ConfigMap "my-nginx" key "default.conf"`}},
		"the ingress-nginx controller key is switched to 1.1": {
			modes: enforce, file: "ingress-nginx-controller.in.yaml", patched: true,
			warnings: []string{`key "proxy-http-version": "1.0" → "1.1"`}},
		"a namespace outside the mesh is left alone": {
			modes: enforce, file: "story-conf-d.in.yaml", namespace: "plain"},
		"broken config is left alone without a word to the user": {
			modes: enforce, file: "broken-nginx.in.yaml"},
		"text that merely mentions proxy_pass is left alone": {
			modes: enforce, file: "not-nginx.in.yaml"},
		"nginx config it cannot analyse is left alone, and the user told so": {
			modes: enforce, file: "lua-block.in.yaml",
			warnings: []string{`[nginx-http11] ConfigMap "openresty" has nginx configuration meshguard cannot analyse safely, left unchanged (key "default.conf": `, "lua", "stay on HTTP/1.0", "add proxy_http_version 1.1;"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h, _ := nginxHandler(t, tc.modes)
			resp := reviewtest.Send(t, h, reviewtest.Req{Op: admissionv1.Create, Namespace: tc.namespace, Object: reviewtest.Load(t, nginxDir+"/"+tc.file)})
			if !resp.Allowed {
				t.Fatalf("a mutating rule never denies: %+v", resp.Result)
			}
			if got := len(resp.Patch) > 0; got != tc.patched {
				t.Fatalf("patched = %v, want %v (%s)", got, tc.patched, resp.Patch)
			}
			if tc.patched && !strings.Contains(string(resp.Patch), `"meshguard.dev/mutated":"nginx-http11"`) && !strings.Contains(string(resp.Patch), `meshguard.dev~1mutated","value":"nginx-http11"`) {
				t.Errorf("patch does not record the rule on the object: %s", resp.Patch)
			}
			reviewtest.Warnings(t, resp.Warnings, tc.warnings, nil)
			for _, a := range tc.audit {
				if !strings.Contains(resp.AuditAnnotations["nginx-http11"], a) {
					t.Errorf("audit annotation %q lacks %q", resp.AuditAnnotations["nginx-http11"], a)
				}
			}
		})
	}
}

func TestNginxHTTP11CountsSkippedValues(t *testing.T) {
	h, reg := nginxHandler(t, policy.Modes{Default: policy.Enforce})
	reviewtest.Send(t, h, reviewtest.Req{Op: admissionv1.Create, Object: reviewtest.Load(t, nginxDir+"/broken-nginx.in.yaml")})
	want := "\n# HELP meshguard_skipped_total Requests or values meshguard left alone on purpose: rule=\"\" for kinds no rule handles, else the rule that skipped a value it cannot analyse safely.\n# TYPE meshguard_skipped_total counter\nmeshguard_skipped_total{rule=\"nginx-http11\"} 1\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshguard_skipped_total"); err != nil {
		t.Fatal(err)
	}
}

func TestNginxHTTP11UnreadableNamespaceIsAnError(t *testing.T) {
	h, _ := nginxHandler(t, policy.Modes{Default: policy.Enforce})
	code, _ := reviewtest.Post(t, h, reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Namespace: "gone", Object: reviewtest.Load(t, nginxDir+"/story-conf-d.in.yaml")}))
	if code != http.StatusInternalServerError {
		t.Fatalf("HTTP %d, want 500 so failurePolicy decides", code)
	}
}
