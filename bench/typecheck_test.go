package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/meshguard/meshguard/internal/harness"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policies"
	"github.com/meshguard/meshguard/pkg/policy"
)

// TestCompiledPoliciesPassTheTypeCheck runs the schema-aware type check that
// kube-controller-manager writes into a ValidatingAdmissionPolicy's
// status.typeChecking (validating.TypeChecker, the same code) against a
// real kube-apiserver serving the Istio CRDs, for every ValidatingAdmission
// Policy meshguard compiles in each of its variants. envtest runs no
// kube-controller-manager, so the checker is given what that controller
// gives it: the schemas the API server publishes (OpenAPI v3 through
// discovery; the controller reads the built-in ones from its compiled-in
// definitions, which the API server publishes too) and a discovery REST
// mapper. A warning there is a field that does not exist or a type that
// does not fit: the API server would still run the policy, and fail at the
// first object that reaches the expression.
//
// The checker skips, silently, every type it cannot resolve; so each policy
// is also checked with one expression naming a field that does not exist,
// which must be reported for every kind the policy matches, and one naming
// a field the parameters lack, where the policy has parameters.
func TestCompiledPoliciesPassTheTypeCheck(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" && os.Getenv("CI") != "true" {
		t.Skip("SKIPPED: KUBEBUILDER_ASSETS is not set, so no kube-apiserver to resolve schemas from; " +
			`run eval "$(bash hack/tools/build.sh)"; export KUBEBUILDER_ASSETS HELM`)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	assets, err := harness.KubebuilderAssets(ctx, "..", os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := harness.StartControlPlane(ctx, "..", assets, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	checker := &validating.TypeChecker{
		SchemaResolver: &resolver.ClientDiscoveryResolver{Discovery: dc},
		RestMapper:     restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
	}

	variants := map[string]policies.Options{
		"enforce":         {AllowExemptions: true},
		"audit":           {Modes: policy.Modes{Default: policy.Audit}, AllowExemptions: true},
		"exemption authz": {AllowExemptions: true, ExemptionAuthz: true},
		"no exemptions":   {},
		"mesh by default": {Mesh: mesh.Options{ByDefault: true, SystemNamespaces: []string{"infra"}}, Excluded: []string{"infra"}},
	}
	// What each policy's negative control must be reported for: the kinds
	// the policy matches.
	wantKinds := map[string][]string{
		"meshguard-ingress-in-mesh":      {"networking.k8s.io/v1, Kind=Ingress"},
		"meshguard-gce-metadata-address": {"networking.istio.io/v1, Kind=ServiceEntry", "networking.istio.io/v1alpha3, Kind=ServiceEntry", "networking.istio.io/v1beta1, Kind=ServiceEntry"},
	}
	checked := 0
	for name, o := range variants {
		objs, err := policies.Compile(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, u := range objs {
			if u.GetKind() != "ValidatingAdmissionPolicy" {
				continue
			}
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
				t.Fatal(err)
			}
			kinds, known := wantKinds[p.Name]
			if !known {
				t.Fatalf("%s: policy %s has no expected kinds in this test", name, p.Name)
			}
			t.Run(name+"/"+p.Name, func(t *testing.T) {
				for _, w := range checker.Check(p) {
					t.Errorf("%s: %s", w.FieldRef, w.Warning)
				}

				// The control reads a field that does not exist on the object,
				// and on the parameters where there are some: one error for
				// each per kind the checker resolved.
				control := p.DeepCopy()
				expr, perKind := `object.spec.noSuchField == 'x'`, 1
				if control.Spec.ParamKind != nil {
					expr, perKind = expr+` || params.noSuchField == 'x'`, 2
				}
				control.Spec.Validations = append(control.Spec.Validations, admissionregistrationv1.Validation{Expression: expr})
				warnings := checker.Check(control)
				if len(warnings) != 1 {
					t.Fatalf("the negative control gave %d warnings, want 1 (for the added expression): %+v", len(warnings), warnings)
				}
				w := warnings[0].Warning
				for _, k := range kinds {
					if !strings.Contains(w, k+": ") {
						t.Errorf("the negative control's warning does not name %s, so its schema was not resolved:\n%s", k, w)
					}
				}
				if n := strings.Count(w, "undefined field 'noSuchField'"); n != perKind*len(kinds) {
					t.Errorf("the negative control's warning has %d errors, want %d (%d kinds × %d fields): the object's or the parameters' schema was not resolved:\n%s", n, perKind*len(kinds), len(kinds), perKind, w)
				}
			})
			checked++
		}
	}
	if checked != 2*len(variants) {
		t.Fatalf("checked %d policies, want both rules' in each of %d variants", checked, len(variants))
	}
}
