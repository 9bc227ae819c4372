package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sadmission "k8s.io/apiserver/pkg/admission"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	"github.com/meshguard/meshguard/pkg/policies"
	"github.com/meshguard/meshguard/pkg/policy"
)

var (
	ingressResource      = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
	serviceEntryResource = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"}
)

// compiledForCost are the enforce-mode policies `webhook policies` prints,
// with an IngressClass of Istio's in the parameters.
type compiledForCost struct {
	ingress, gceWarn *admissionregistrationv1.ValidatingAdmissionPolicy
	gce              *admissionregistrationv1.MutatingAdmissionPolicy
	params           *corev1.ConfigMap
}

func compileForCost(t testing.TB) compiledForCost {
	t.Helper()
	objs, err := policies.Compile(policies.Options{
		Modes: policy.Modes{Default: policy.Enforce}, AllowExemptions: true, ExemptionAuthz: true,
		IngressClasses: []networkingv1.IngressClass{{
			ObjectMeta: metav1.ObjectMeta{Name: "istio"}, Spec: networkingv1.IngressClassSpec{Controller: "istio.io/ingress-controller"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var c compiledForCost
	for _, u := range objs {
		var into any
		switch u.GetKind() {
		case "ValidatingAdmissionPolicy":
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			if strings.Contains(u.GetName(), "ingress") {
				c.ingress = p
			} else {
				c.gceWarn = p
			}
			into = p
		case "MutatingAdmissionPolicy":
			c.gce = &admissionregistrationv1.MutatingAdmissionPolicy{}
			into = c.gce
		case "ConfigMap":
			c.params = &corev1.ConfigMap{}
			into = c.params
		default:
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
			t.Fatal(err)
		}
	}
	if c.ingress == nil || c.gceWarn == nil || c.gce == nil || c.params == nil {
		t.Fatalf("compiled %d objects, want both rules' policies and the parameters", len(objs))
	}
	return c
}

func meshedNamespace() *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "my-app", Labels: map[string]string{"istio-injection": "enabled"}}}
}

func costObject(t testing.TB, apiVersion, kind string, metadata, spec map[string]any) *unstructured.Unstructured {
	t.Helper()
	metadata["namespace"] = "my-app"
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": metadata, "spec": spec}}
}

func storyIngress(t testing.TB, annotations map[string]any, rules int) *unstructured.Unstructured {
	spec := map[string]any{"defaultBackend": map[string]any{"service": map[string]any{"name": "web", "port": map[string]any{"number": int64(80)}}}}
	if rules > 0 {
		rs := make([]any, rules)
		for i := range rs {
			rs[i] = map[string]any{"host": fmt.Sprintf("h%d.example.com", i), "http": map[string]any{"paths": []any{map[string]any{
				"path": "/", "pathType": "Prefix", "backend": map[string]any{"service": map[string]any{"name": "web", "port": map[string]any{"number": int64(80)}}},
			}}}}
		}
		spec["rules"] = rs
	}
	md := map[string]any{"name": "my-app"}
	if annotations != nil {
		md["annotations"] = annotations
	}
	return costObject(t, "networking.k8s.io/v1", "Ingress", md, spec)
}

// serviceEntry names the metadata server among ipHosts IP hosts (each
// distinct), with addresses declared addresses.
func serviceEntry(t testing.TB, ipHosts, addresses int, resolution string) *unstructured.Unstructured {
	hosts := []any{"metadata.google.internal"}
	for i := range ipHosts {
		hosts = append(hosts, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	addrs := []any{}
	for i := range addresses {
		addrs = append(addrs, fmt.Sprintf("192.168.%d.%d", i>>8&255, i&255))
	}
	spec := map[string]any{"hosts": hosts, "location": "MESH_EXTERNAL", "resolution": resolution,
		"ports": []any{map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"}}}
	if addresses > 0 {
		spec["addresses"] = addrs
	}
	return costObject(t, "networking.istio.io/v1", "ServiceEntry", map[string]any{"name": "metadata-server"}, spec)
}

// costCase is one admission and what both policies it meets spend on it.
type costCase struct {
	name string
	a    Admission
}

func (c compiledForCost) cost(t testing.TB, cc costCase) (total Cost) {
	t.Helper()
	ctx := context.Background()
	add := func(x Cost, err error) {
		if err != nil {
			t.Fatalf("%s: %v", cc.name, err)
		}
		total.Match += x.Match
		total.Eval = max(total.Eval, x.Eval) // each binding has its own budget
		if x.Err != nil {
			total.Err = x.Err
		}
	}
	if cc.a.Resource == ingressResource {
		cc.a.Params = c.params
		add(ValidatingPolicyCost(ctx, c.ingress, cc.a))
		return total
	}
	add(MutatingPolicyCost(ctx, c.gce, cc.a))
	add(ValidatingPolicyCost(ctx, c.gceWarn, cc.a))
	return total
}

// TestCompiledPolicyCostHeadroom evaluates the compiled policies in the API
// server's own CEL runtime (k8s.io/apiserver's policy compilers and
// evaluators, as pinned in go.mod) and measures what each admission costs
// against the budgets the API server enforces: every ordinary object leaves
// at least 95% of each budget, and the largest objects spend in all their
// expressions together under half of what one expression may (docs/performance.md has the table).
func TestCompiledPolicyCostHeadroom(t *testing.T) {
	c := compileForCost(t)
	ns := meshedNamespace()
	ingress := func(name string, obj, old *unstructured.Unstructured) costCase {
		op := k8sadmission.Create
		if old != nil {
			op = k8sadmission.Update
		}
		return costCase{name, Admission{Object: obj, OldObject: old, Namespace: ns, Resource: ingressResource, Operation: op}}
	}
	se := func(name string, obj *unstructured.Unstructured) costCase {
		return costCase{name, Admission{Object: obj, Namespace: ns, Resource: serviceEntryResource, Operation: k8sadmission.Create}}
	}
	exempt := map[string]any{"meshguard.dev/exempt": "ingress-in-mesh", "meshguard.dev/exempt-reason": "moving next sprint"}
	relabelled := storyIngress(t, map[string]any{"team": "web"}, 0)
	ordinary := []costCase{
		ingress("Ingress, no class (denied)", storyIngress(t, nil, 0), nil),
		ingress("Ingress, class istio (allowed)", storyIngress(t, map[string]any{"kubernetes.io/ingress.class": "istio"}, 0), nil),
		ingress("Ingress, exempt with a reason", storyIngress(t, exempt, 0), nil),
		ingress("Ingress, label-only update", relabelled, storyIngress(t, nil, 0)),
		ingress("Ingress, 20 hosts (denied)", storyIngress(t, nil, 20), nil),
		se("ServiceEntry, the story's (DNS)", serviceEntry(t, 0, 0, "DNS")),
		se("ServiceEntry, 10 IP hosts, 10 addresses", serviceEntry(t, 10, 10, "STATIC")),
	}
	t.Logf("budgets: matchConditions %d, the rest %d per binding (%d per expression)",
		celconfig.RuntimeCELCostBudgetMatchConditions, celconfig.RuntimeCELCostBudget, celconfig.PerCallLimit)
	t.Logf("| admission | matchConditions | share | evaluation | share |")
	for _, cc := range ordinary {
		got := c.cost(t, cc)
		t.Logf("| %s | %d | %.4f%% | %d | %.4f%% |", cc.name, got.Match, pct(got.Match, celconfig.RuntimeCELCostBudgetMatchConditions), got.Eval, pct(got.Eval, celconfig.RuntimeCELCostBudget))
		if got.Err != nil {
			t.Errorf("%s: %v", cc.name, got.Err)
		}
		if got.Match == 0 && got.Eval == 0 {
			t.Errorf("%s: no cost measured: the policy did not run", cc.name)
		}
		// The one fixed cost is the authorizer's check (350,000 units by
		// Kubernetes' CEL library) when an exemption is asked for.
		if got.Match*20 > celconfig.RuntimeCELCostBudgetMatchConditions || got.Eval*20 > celconfig.RuntimeCELCostBudget {
			t.Errorf("%s: %+v spends more than 5%% of a budget", cc.name, got)
		}
	}

	// The largest objects that reach the policies. Each must evaluate
	// without error within the budgets, and the two a namespace user could
	// inflate past what CEL should scan (the exemption list, the entry's
	// lists beyond the CRD's maxItems) must be turned away before scanning.
	big := serviceEntryNames(t, 100_000)
	hosts := big.Object["spec"].(map[string]any)["hosts"].([]any)
	hosts[0], hosts[len(hosts)-1] = hosts[len(hosts)-1], hosts[0] // the metadata server last
	large := []struct {
		costCase
		cheap bool // spends under 0.1% of each budget
	}{
		{ingress("Ingress, 3,000 hosts (denied)", storyIngress(t, nil, 3000), nil), true},
		{ingress("Ingress, 3,000 hosts, label-only update", storyIngress(t, map[string]any{"team": "web"}, 3000), storyIngress(t, nil, 3000)), true},
		{ingress("Ingress, 250 KiB meshguard.dev/exempt (read as no exemption: denied)", storyIngress(t, map[string]any{
			"meshguard.dev/exempt": strings.Repeat("x,", 125_000) + "ingress-in-mesh", "meshguard.dev/exempt-reason": "r",
		}, 0), nil), true},
		{se("ServiceEntry, 100,000 hosts, the metadata server last (over maxItems: not matched)", big), true},
		{se("ServiceEntry, 256 hosts, 255 of them IPs (maxItems)", serviceEntry(t, 255, 0, "STATIC")), false},
		{se("ServiceEntry, 255 IP hosts and 256 addresses (maxItems)", serviceEntry(t, 255, 256, "STATIC")), false},
	}
	for _, cc := range large {
		start := time.Now()
		got := c.cost(t, cc.costCase)
		took := time.Since(start)
		t.Logf("| %s | %d | %.4f%% | %d | %.4f%% | (%v in this process) |", cc.name, got.Match, pct(got.Match, celconfig.RuntimeCELCostBudgetMatchConditions),
			got.Eval, pct(got.Eval, celconfig.RuntimeCELCostBudget), took.Round(time.Millisecond))
		if got.Err != nil {
			t.Errorf("%s: %v", cc.name, got.Err)
		}
		if cc.cheap && (got.Match*1000 > celconfig.RuntimeCELCostBudgetMatchConditions || got.Eval*1000 > celconfig.RuntimeCELCostBudget) {
			t.Errorf("%s: %+v: want under 0.1%% of each budget (turned away before any list is scanned)", cc.name, got)
		}
		// Every expression together within half of what one may spend.
		if got.Eval*2 > celconfig.PerCallLimit {
			t.Errorf("%s: %+v: want under half the per-expression limit %d", cc.name, got, celconfig.PerCallLimit)
		}
	}
}

// serviceEntryNames names the metadata server among n other DNS names.
func serviceEntryNames(t testing.TB, n int) *unstructured.Unstructured {
	u := serviceEntry(t, 0, 0, "DNS")
	hosts := u.Object["spec"].(map[string]any)["hosts"].([]any)
	for i := range n {
		hosts = append(hosts, fmt.Sprintf("h%d.example.com", i))
	}
	u.Object["spec"].(map[string]any)["hosts"] = hosts
	return u
}

func pct(x, of int64) float64 { return 100 * float64(x) / float64(of) }
