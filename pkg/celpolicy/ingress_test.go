package celpolicy

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/internal/testenv"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
	"github.com/meshguard/meshguard/pkg/validate"
)

// goldenDir holds ingress-in-mesh's golden Ingresses.
const goldenDir = "../validate/testdata"

// namespaces are the label sets the differential runs every Ingress in.
var namespaces = map[string]map[string]string{
	"injected":  {"istio-injection": "enabled"},
	"revision":  {"istio.io/rev": "canary"},
	"ambient":   {"istio.io/dataplane-mode": "ambient"},
	"opted-out": {"istio-injection": "disabled", "istio.io/rev": "canary"},
	"plain":     nil,
	// The label combinations where the order of Istio's checks decides.
	"ambient-over-disabled":  {"istio.io/dataplane-mode": "ambient", "istio-injection": "disabled"},
	"dataplane-none":         {"istio.io/dataplane-mode": "none"},
	"dataplane-none-and-rev": {"istio.io/dataplane-mode": "none", "istio.io/rev": "canary"},
	"injection-not-enabled":  {"istio-injection": "true"},
	// A system namespace under --mesh-by-default.
	"infra": nil,
}

// knownDifferences are where the webhook says more than the policy can; in
// each, the decision is the same and the policy's message is the webhook's
// without the extra.
var knownDifferences = map[string]string{
	// The webhook appends why an exemption was refused; CEL messages come
	// from one expression per validation and this one stays unconditional.
	"ingress-exempt-no-reason.yaml": "the refused exemption's note",
	// An Ingress Istio serves is allowed by both; the webhook adds advice
	// (use the Gateway API) as a warning, which a Deny binding cannot give.
	"ingress-istio-annotation.yaml": "the Gateway API advice warning",
	"ingress-istio-class.yaml":      "the Gateway API advice warning",
}

const meshguardNS = "meshguard-system"

// TestIngressInMeshCompiledMatchesTheWebhook creates every golden Ingress
// in every kind of namespace through a real API server that holds only the
// compiled policy, and compares each decision and message with the
// webhook's rule deciding the same request in-process: with the mesh read
// from labels, and with --mesh-by-default.
func TestIngressInMeshCompiledMatchesTheWebhook(t *testing.T) {
	t.Run("labels", func(t *testing.T) { compareCreates(t, mesh.Options{}) })
	t.Run("mesh by default", func(t *testing.T) {
		compareCreates(t, mesh.Options{ByDefault: true, SystemNamespaces: []string{"infra"}})
	})
}

func compareCreates(t *testing.T, meshOpts mesh.Options) {
	_, c := testenv.Start(t, "the compiled ingress-in-mesh policy")
	ctx := context.Background()
	for name, labels := range namespaces {
		mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	}
	mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: meshguardNS}})
	classes := []networkingv1.IngressClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "istio-gw"}, Spec: networkingv1.IngressClassSpec{Controller: validate.IstioIngressController}},
	}
	for i := range classes {
		mustCreate(t, c, classes[i].DeepCopy())
	}
	o := Options{Name: "meshguard", Namespace: meshguardNS, Rules: Compilable, AllowExemptions: true, Modes: policy.Modes{Default: policy.Enforce}, Mesh: meshOpts}
	install(t, c, o, classes)
	waitEffective(t, c)

	reader := cluster.Reader{Cache: c, API: c}
	engine := policy.NewEngine(policy.Config{
		Rules: policy.Rules{Validating: []policy.Validator{validate.IngressInMesh{Namespaces: reader, Classes: reader, Mesh: meshOpts}}},
		Modes: policy.Modes{Default: policy.Enforce}, AllowExemptions: true, Log: logr.Discard(),
	})
	handler := &review.Handler{Reviewer: engine, Log: logr.Discard()}

	files, err := filepath.Glob(filepath.Join(goldenDir, "ingress-*.yaml"))
	if err != nil || len(files) < 8 {
		t.Fatalf("golden Ingresses: %v (%d)", err, len(files))
	}
	compared := 0
	for _, f := range files {
		for ns := range namespaces {
			t.Run(filepath.Base(f)+"/"+ns, func(t *testing.T) {
				ing := &networkingv1.Ingress{}
				if err := yaml.Unmarshal(reviewtest.Load(t, f), ing); err != nil {
					t.Fatal(err)
				}
				// A create carries no resourceVersion (one golden is an
				// update's object).
				ing.Namespace, ing.ResourceVersion = ns, ""
				raw, err := json.Marshal(ing)
				if err != nil {
					t.Fatal(err)
				}
				resp := reviewtest.Send(t, handler, reviewtest.Req{Op: admissionv1.Create, Object: raw, Namespace: ns})
				err = c.Create(ctx, ing, client.DryRunAll)
				compareDecision(t, filepath.Base(f), resp, err)
				compared++
			})
		}
	}
	t.Logf("%d Ingress creates compared", compared)
}

// TestIngressInMeshCompiledUpdates: an update that keeps the spec and class
// is allowed (the webhook warns), one that changes the spec is denied with
// the command that reads the stored Ingress.
func TestIngressInMeshCompiledUpdates(t *testing.T) {
	_, c := testenv.Start(t, "the compiled ingress-in-mesh policy")
	ctx := context.Background()
	mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "injected", Labels: namespaces["injected"]}})
	mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: meshguardNS}})
	install(t, c, Options{Name: "meshguard", Namespace: meshguardNS, Rules: Compilable, AllowExemptions: true}, nil)
	waitEffective(t, c)

	ing := &networkingv1.Ingress{}
	if err := yaml.Unmarshal(reviewtest.Load(t, filepath.Join(goldenDir, "ingress-exempt.yaml")), ing); err != nil {
		t.Fatal(err)
	}
	ing.Namespace = "injected"
	if err := c.Create(ctx, ing); err != nil {
		t.Fatalf("an exempted Ingress is refused: %v", err)
	}
	// Dropping the exemption without touching spec or class: allowed.
	kept := ing.DeepCopy()
	delete(kept.Annotations, policy.ExemptAnnotation)
	delete(kept.Annotations, policy.ExemptReasonAnnotation)
	if err := c.Update(ctx, kept, client.DryRunAll); err != nil {
		t.Errorf("a metadata-only update is refused: %v", err)
	}
	changed := kept.DeepCopy()
	changed.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "other", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	err := c.Update(ctx, changed, client.DryRunAll)
	want := "`kubectl meshguard convert -n injected " + ing.Name + "` prints the objects that replace it"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a spec change: %v, want a denial ending %q", err, want)
	}
}

// TestIngressInMeshCompiledWithoutParams fails closed in enforce mode and
// open in audit mode, as the webhook does when it cannot answer.
func TestIngressInMeshCompiledWithoutParams(t *testing.T) {
	_, c := testenv.Start(t, "the compiled ingress-in-mesh policy")
	ctx := context.Background()
	mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "injected", Labels: namespaces["injected"]}})
	for _, tc := range []struct {
		mode    policy.Mode
		allowed bool
	}{{policy.Enforce, false}, {policy.Audit, true}} {
		objs, err := Compile(Options{Name: "mg-" + string(tc.mode), Namespace: meshguardNS, Rules: Compilable, Modes: policy.Modes{Default: tc.mode}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objs {
			if u.GetKind() != "ConfigMap" {
				mustCreate(t, c, u)
			}
		}
		// The exempt Ingress passes the expression; only the missing
		// parameters decide.
		ing := &networkingv1.Ingress{}
		if err := yaml.Unmarshal(reviewtest.Load(t, filepath.Join(goldenDir, "ingress-exempt.yaml")), ing); err != nil {
			t.Fatal(err)
		}
		ing.Namespace = "injected"
		var last error
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			last = c.Create(ctx, ing.DeepCopy(), client.DryRunAll)
			if (last == nil) == tc.allowed && (tc.allowed || strings.Contains(last.Error(), "mg-enforce")) {
				break
			}
		}
		if (last == nil) != tc.allowed {
			t.Errorf("%s mode without the parameter ConfigMap: %v, want allowed=%v", tc.mode, last, tc.allowed)
		}
		for _, u := range objs {
			if u.GetKind() != "ConfigMap" {
				_ = c.Delete(ctx, u)
			}
		}
	}
}

func compareDecision(t *testing.T, file string, resp *admissionv1.AdmissionResponse, err error) {
	t.Helper()
	if resp.Allowed != (err == nil) {
		t.Fatalf("webhook allowed=%v, compiled policy: %v (webhook: %+v)", resp.Allowed, err, resp.Result)
	}
	if err == nil {
		if len(resp.Warnings) > 0 && knownDifferences[file] == "" {
			t.Errorf("the webhook warns %q and the policy says nothing: not a known difference", resp.Warnings)
		}
		return
	}
	if resp.Result == nil || resp.Result.Code != http.StatusForbidden {
		t.Fatalf("webhook result %+v", resp.Result)
	}
	_, compiled, ok := strings.Cut(err.Error(), "denied request: ")
	if !ok {
		t.Fatalf("not the policy's denial: %v", err)
	}
	switch {
	case compiled == resp.Result.Message:
	case knownDifferences[file] != "" && strings.HasPrefix(resp.Result.Message, compiled+" "):
		t.Logf("known difference (%s): the webhook adds %q", knownDifferences[file], strings.TrimPrefix(resp.Result.Message, compiled))
	default:
		t.Errorf("messages differ:\nwebhook:  %s\ncompiled: %s", resp.Result.Message, compiled)
	}
}

func install(t *testing.T, c client.Client, o Options, classes []networkingv1.IngressClass) {
	t.Helper()
	objs, err := Compile(o, classes)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("compiled %d objects, want a policy, a binding and the parameters", len(objs))
	}
	for _, u := range objs {
		mustCreate(t, c, u)
	}
}

// waitEffective waits until the API server enforces the policy: it picks
// policies up asynchronously.
func waitEffective(t *testing.T, c client.Client) {
	t.Helper()
	probe := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "injected"},
		Spec:       networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "x", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = c.Create(context.Background(), probe.DeepCopy(), client.DryRunAll); err != nil && strings.Contains(err.Error(), "denied request") {
			return
		}
	}
	t.Fatalf("the compiled policy never took effect: last probe %v", err)
}

func mustCreate(t *testing.T, c client.Client, o client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatalf("creating %s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
}

// TestEveryVariantCompilesOnTheAPIServer creates the policy of every option
// that changes its CEL: the API server compiles each expression on create
// and refuses one that does not compile or exceeds its cost limits.
func TestEveryVariantCompilesOnTheAPIServer(t *testing.T) {
	_, c := testenv.Start(t, "the compiled ingress-in-mesh policy's variants")
	variants := map[string]Options{
		"audit":              {Modes: policy.Modes{Default: policy.Audit}},
		"exemption authz":    {AllowExemptions: true, ExemptionAuthz: true},
		"no exemptions":      {AllowExemptions: false},
		"mesh by default":    {Mesh: mesh.Options{ByDefault: true, SystemNamespaces: []string{"infra"}}},
		"Istio DEFAULT mode": {Istio: validate.IstioIngress{Class: "istio-public", Mode: validate.IngressModeDefault}},
		"Istio OFF mode":     {Istio: validate.IstioIngress{Mode: validate.IngressModeOff}},
	}
	i := 0
	for name, o := range variants {
		i++
		o.Name, o.Namespace, o.Rules = "v"+strconv.Itoa(i), meshguardNS, Compilable
		objs, err := Compile(o, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, u := range objs {
			if u.GetKind() == "ConfigMap" {
				continue
			}
			if err := c.Create(context.Background(), u); err != nil {
				t.Errorf("%s: the API server refuses the %s: %v", name, u.GetKind(), err)
			}
		}
	}
}

// TestIngressInMeshCompiledExemptionAuthz: with ExemptionAuthz, an exempted
// Ingress is denied for a namespace editor and allowed once the editor may
// exempt (verb exempt on rules.meshguard.dev, named for the rule, in the
// namespace), asked through the real API server's RBAC; an update that keeps
// the stored exemption needs no permission.
func TestIngressInMeshCompiledExemptionAuthz(t *testing.T) {
	cfg, c := testenv.Start(t, "the compiled ingress-in-mesh policy")
	ctx := context.Background()
	mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "injected", Labels: namespaces["injected"]}})
	mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: meshguardNS}})
	install(t, c, Options{Name: "meshguard", Namespace: meshguardNS, Rules: Compilable, AllowExemptions: true, ExemptionAuthz: true}, nil)
	waitEffective(t, c)

	const user = "team-web"
	role := func(name string, rules ...rbacv1.PolicyRule) {
		mustCreate(t, c, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "injected", Name: name}, Rules: rules})
		mustCreate(t, c, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "injected", Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		})
	}
	role("ingress-editor", rbacv1.PolicyRule{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"create", "get", "update"}})
	ucfg := rest.CopyConfig(cfg)
	ucfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	uc, err := client.New(ucfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}

	ing := &networkingv1.Ingress{}
	if err := yaml.Unmarshal(reviewtest.Load(t, filepath.Join(goldenDir, "ingress-exempt.yaml")), ing); err != nil {
		t.Fatal(err)
	}
	ing.Namespace = "injected"
	if err := uc.Create(ctx, ing.DeepCopy(), client.DryRunAll); err == nil || !strings.Contains(err.Error(), "denied request") {
		t.Fatalf("an editor's exemption without the permission: %v, want a denial", err)
	}
	// An admin creates the exempted Ingress; the editor's update that keeps
	// the exemption and changes the spec needs no permission.
	if err := c.Create(ctx, ing); err != nil {
		t.Fatalf("an admin's exempted Ingress is refused: %v", err)
	}
	changed := &networkingv1.Ingress{}
	if err := uc.Get(ctx, client.ObjectKeyFromObject(ing), changed); err != nil {
		t.Fatal(err)
	}
	changed.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "other", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	if err := uc.Update(ctx, changed, client.DryRunAll); err != nil {
		t.Errorf("an update that keeps the stored exemption is refused: %v", err)
	}

	role("exempt", rbacv1.PolicyRule{APIGroups: []string{policy.ExemptionGroup}, Resources: []string{policy.ExemptionResource}, Verbs: []string{policy.ExemptionVerb}})
	fresh := ing.DeepCopy()
	fresh.Name, fresh.ResourceVersion = "web-2", ""
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if last = uc.Create(ctx, fresh.DeepCopy(), client.DryRunAll); last == nil {
			return
		}
	}
	t.Errorf("an editor who may exempt is still refused: %v", last)
}
