package validate

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// clusterObjects is the cluster every handler test runs against.
func clusterObjects() []client.Object {
	ns := func(name string, labels map[string]string) client.Object {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	class := func(name, controller string) client.Object {
		return &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{Controller: controller}}
	}
	return []client.Object{
		ns("injected", map[string]string{"istio-injection": "enabled"}),
		ns("revision", map[string]string{"istio.io/rev": "canary"}),
		ns("ambient", map[string]string{"istio.io/dataplane-mode": "ambient"}),
		ns("opted-out", map[string]string{"istio-injection": "disabled", "istio.io/rev": "canary"}),
		ns("plain", nil),
		class("nginx", "k8s.io/ingress-nginx"),
		class("istio-gw", IstioIngressController),
	}
}

type fixture struct {
	handler http.Handler
	reg     *prometheus.Registry
}

func newFixture(t *testing.T, modes policy.Modes, allowExemptions bool, extra ...client.Object) fixture {
	t.Helper()
	c := fake.NewClientBuilder().WithObjects(append(clusterObjects(), extra...)...).Build()
	reader := cluster.Reader{Cache: c, API: c}
	reg := prometheus.NewRegistry()
	m, err := policy.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	rules := policy.Rules{Validating: []policy.Validator{
		IngressInMesh{Namespaces: reader, Classes: reader, Mesh: mesh.Options{}},
		NamespaceJoinsMesh{Ingresses: reader, Classes: reader, AllowExemptions: allowExemptions},
	}}
	engine := policy.NewEngine(policy.Config{Rules: rules, Modes: modes, AllowExemptions: allowExemptions, Metrics: m, Log: logr.Discard()})
	return fixture{handler: &review.Handler{Reviewer: engine, Log: logr.Discard()}, reg: reg}
}

func load(t *testing.T, name string) []byte {
	return reviewtest.Load(t, filepath.Join("testdata", name))
}

// want is what a response must say; every listed substring must appear.
type want struct {
	allowed  bool
	message  []string // denial message
	warnings []string // all warnings joined
	audit    string   // substring of the ingress-in-mesh audit annotation ("" = none expected)
	quiet    bool     // no warnings at all
}

func TestIngressInMesh(t *testing.T) {
	enforce := policy.Modes{Default: policy.Enforce}
	audit := policy.Modes{Default: policy.Audit}
	off := policy.Modes{Default: policy.Enforce, PerRule: map[string]policy.Mode{"ingress-in-mesh": policy.Off}}
	denied := func(extra ...string) want {
		return want{message: append([]string{"[ingress-in-mesh] Ingress ", "bypasses mesh routing and mTLS", "gatewayClassName: istio", "HTTPRoute"}, extra...)}
	}
	tests := map[string]struct {
		modes     policy.Modes
		noExempt  bool
		op        admissionv1.Operation
		file, old string
		ns        string
		dryRun    bool
		want      want
	}{
		"a classless Ingress is denied in an istio-injection=enabled namespace": {
			file: "ingress-classless.yaml", ns: "injected",
			want: denied(`Ingress "web" is not allowed in namespace "injected"`, "(istio-injection=enabled)", "the cluster's default Ingress controller", "GCE load balancer")},
		"a classless Ingress is denied in an istio.io/rev=canary namespace": {
			file: "ingress-classless.yaml", ns: "revision", want: denied("(istio.io/rev=canary)")},
		"a classless Ingress is denied in an ambient namespace": {
			file: "ingress-classless.yaml", ns: "ambient", want: denied("(istio.io/dataplane-mode=ambient)")},
		"a gce Ingress is denied with the global static IP hint": {
			file: "ingress-gce-static-ip.yaml", ns: "injected",
			want: denied(`served by "gce" (annotation kubernetes.io/ingress.class)`, `global static IP "gad-my-app"`, "loadBalancerIP",
				"; `kubectl meshguard convert -n injected -f FILE` prints the objects that replace it (FILE: this Ingress's manifest)")},
		"an nginx-class Ingress is denied naming its controller": {
			file: "ingress-nginx-class.yaml", ns: "revision",
			want: denied(`IngressClass "nginx" (controller k8s.io/ingress-nginx)`)},
		"an Ingress whose IngressClass does not exist is denied": {
			file: "ingress-unknown-class.yaml", ns: "ambient",
			want: denied(`IngressClass "does-not-exist", which does not exist`)},
		"istio-injection=disabled wins over istio.io/rev": {
			file: "ingress-gce-static-ip.yaml", ns: "opted-out", want: want{allowed: true, quiet: true}},
		"an unlabelled namespace is not in the mesh": {
			file: "ingress-classless.yaml", ns: "plain", want: want{allowed: true, quiet: true}},
		"an Istio-class Ingress by annotation is allowed with a Gateway API warning": {
			file: "ingress-istio-annotation.yaml", ns: "injected",
			want: want{allowed: true, warnings: []string{"[ingress-in-mesh] ", `"legacy"`, "served by Istio", "Gateway API"}}},
		"an Istio-class Ingress by IngressClass controller is allowed with a warning": {
			file: "ingress-istio-class.yaml", ns: "revision",
			want: want{allowed: true, warnings: []string{`IngressClass "istio-gw" (controller istio.io/ingress-controller)`, "HTTPRoute"}}},
		"an exemption with a reason is honoured": {
			file: "ingress-exempt.yaml", ns: "injected", want: want{allowed: true, quiet: true}},
		"an exemption without a reason is refused and the denial says why": {
			file: "ingress-exempt-no-reason.yaml", ns: "injected",
			want: denied("not granted without a reason", "meshguard.dev/exempt-reason")},
		"exemptions turned off by the cluster admins are refused": {
			file: "ingress-exempt.yaml", ns: "injected", noExempt: true,
			want: denied("exemptions are turned off on this cluster")},
		"audit mode allows with a warning and an audit annotation": {
			modes: audit, file: "ingress-gce-static-ip.yaml", ns: "injected",
			want: want{allowed: true, warnings: []string{"[ingress-in-mesh] (audit) would deny: Ingress \"my-app\" is not allowed", "gatewayClassName: istio"}, audit: "would deny: Ingress \"my-app\""}},
		"a rule turned off reports nothing": {
			modes: off, file: "ingress-gce-static-ip.yaml", ns: "injected", want: want{allowed: true, quiet: true}},
		"DELETE passes through": {
			op: admissionv1.Delete, old: "ingress-gce-static-ip.yaml", ns: "injected", want: want{allowed: true, quiet: true}},
		"a metadata-only UPDATE of an existing Ingress is allowed with a warning": {
			op: admissionv1.Update, old: "ingress-gce-static-ip.yaml", file: "ingress-gce-static-ip-maintained.yaml", ns: "injected",
			want: want{allowed: true, warnings: []string{"metadata-only update is allowed", "changes to its spec will be denied"}}},
		"an UPDATE that changes the spec is denied": {
			op: admissionv1.Update, old: "ingress-gce-static-ip.yaml", file: "ingress-gce-static-ip-new-backend.yaml", ns: "injected",
			want: denied(`Ingress "my-app" is not allowed`, "; `kubectl meshguard convert -n injected my-app` prints the objects that replace it")},
		"an UPDATE that changes the class is denied": {
			op: admissionv1.Update, old: "ingress-istio-annotation.yaml", file: "ingress-classless.yaml", ns: "injected",
			want: denied(`Ingress "web" is not allowed`)},
		"an UPDATE that adds an exemption is honoured": {
			op: admissionv1.Update, old: "ingress-gce-static-ip-new-backend.yaml", file: "ingress-exempt.yaml", ns: "injected",
			want: want{allowed: true, quiet: true}},
		"a dry run is answered like a real request": {
			file: "ingress-classless.yaml", ns: "injected", dryRun: true, want: denied()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			modes := tc.modes
			if modes.Default == "" {
				modes = enforce
			}
			f := newFixture(t, modes, !tc.noExempt)
			r := reviewtest.Req{Op: tc.op, Namespace: tc.ns, DryRun: tc.dryRun}
			if r.Op == "" {
				r.Op = admissionv1.Create
			}
			if tc.file != "" {
				r.Object = load(t, tc.file)
			}
			if tc.old != "" {
				r.OldObject = load(t, tc.old)
			}
			check(t, reviewtest.Send(t, f.handler, r), tc.want)
		})
	}
}

func check(t *testing.T, resp *admissionv1.AdmissionResponse, w want) {
	t.Helper()
	if resp.Allowed != w.allowed {
		t.Fatalf("allowed = %v, want %v; result %+v warnings %q", resp.Allowed, w.allowed, resp.Result, resp.Warnings)
	}
	if !w.allowed {
		if resp.Result == nil || resp.Result.Code != http.StatusForbidden {
			t.Fatalf("a denial must carry a 403 status, got %+v", resp.Result)
		}
		for _, s := range w.message {
			if !strings.Contains(resp.Result.Message, s) {
				t.Errorf("denial message lacks %q:\n%s", s, resp.Result.Message)
			}
		}
	}
	joined := strings.Join(resp.Warnings, "\n")
	for _, s := range w.warnings {
		if !strings.Contains(joined, s) {
			t.Errorf("warnings lack %q:\n%s", s, joined)
		}
	}
	if w.quiet && len(resp.Warnings) > 0 {
		t.Errorf("want no warnings, got %q", resp.Warnings)
	}
	got := resp.AuditAnnotations["ingress-in-mesh"]
	if (w.audit == "") != (got == "") || !strings.Contains(got, w.audit) {
		t.Errorf("audit annotation = %q, want one containing %q", got, w.audit)
	}
	if len(resp.Patch) > 0 {
		t.Errorf("a validating answer must not patch, got %s", resp.Patch)
	}
}
