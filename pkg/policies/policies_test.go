package policies

import (
	"reflect"
	"slices"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshguard/meshguard/pkg/celpolicy"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
)

const meshguardNS = "meshguard-system"

func kinds(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, u := range objs {
		ks = append(ks, u.GetKind()+"/"+u.GetName())
	}
	return ks
}

func TestCompileObjectsPerMode(t *testing.T) {
	gce := mutate.GCEMetadataAddress{}.ID()
	tests := map[string]struct {
		modes policy.Modes
		want  []string
	}{
		"enforce": {policy.Modes{Default: policy.Enforce}, []string{
			"ValidatingAdmissionPolicy/meshguard-ingress-in-mesh", "ValidatingAdmissionPolicyBinding/meshguard-ingress-in-mesh", "ConfigMap/meshguard-policy-params",
			"MutatingAdmissionPolicy/meshguard-gce-metadata-address", "MutatingAdmissionPolicyBinding/meshguard-gce-metadata-address",
			"ValidatingAdmissionPolicy/meshguard-gce-metadata-address", "ValidatingAdmissionPolicyBinding/meshguard-gce-metadata-address"}},
		"audit: nothing mutates": {policy.Modes{Default: policy.Audit}, []string{
			"ValidatingAdmissionPolicy/meshguard-ingress-in-mesh", "ValidatingAdmissionPolicyBinding/meshguard-ingress-in-mesh", "ConfigMap/meshguard-policy-params",
			"ValidatingAdmissionPolicy/meshguard-gce-metadata-address", "ValidatingAdmissionPolicyBinding/meshguard-gce-metadata-address"}},
		"a rule turned off is not compiled": {policy.Modes{Default: policy.Enforce, PerRule: map[string]policy.Mode{gce: policy.Off}}, []string{
			"ValidatingAdmissionPolicy/meshguard-ingress-in-mesh", "ValidatingAdmissionPolicyBinding/meshguard-ingress-in-mesh", "ConfigMap/meshguard-policy-params"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs, err := Compile(Options{Modes: tc.modes})
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(objs); !slices.Equal(got, tc.want) {
				t.Errorf("objects\n got %q\nwant %q", got, tc.want)
			}
			for _, u := range objs {
				if u.GetLabels()[ManagedByLabel] != ManagedBy {
					t.Errorf("%s %s lacks %s=%s", u.GetKind(), u.GetName(), ManagedByLabel, ManagedBy)
				}
			}
		})
	}
	if _, err := Compile(Options{Rules: []string{"nginx-http11"}}); err == nil {
		t.Error("compiling nginx-http11 succeeded")
	}
}

// TestIngressInMeshIsPkgCelpolicys pins that the ingress-in-mesh objects are
// pkg/celpolicy's, labelled: its differential test against the webhook (every
// golden Ingress in five kinds of namespace) then covers what Compile emits.
func TestIngressInMeshIsPkgCelpolicys(t *testing.T) {
	for _, mode := range []policy.Mode{policy.Enforce, policy.Audit} {
		o := Options{Namespace: meshguardNS, Modes: policy.Modes{Default: mode}, AllowExemptions: true, Rules: []string{validate.IngressInMesh{}.ID()}}
		ours, err := Compile(o)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := celpolicy.Compile(celpolicy.Options{Name: "meshguard", Namespace: meshguardNS, Modes: o.Modes, AllowExemptions: true, Rules: celpolicy.Compilable}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ours) != len(theirs) {
			t.Fatalf("%s: %d objects, celpolicy %d", mode, len(ours), len(theirs))
		}
		for i := range ours {
			u := ours[i].DeepCopy()
			labels := u.GetLabels()
			delete(labels, ManagedByLabel)
			if len(labels) == 0 {
				labels = nil
			}
			u.SetLabels(labels)
			if !reflect.DeepEqual(u.Object, theirs[i].Object) {
				t.Errorf("%s: %s %s differs from celpolicy's", mode, u.GetKind(), u.GetName())
			}
		}
	}
}

// TestEveryVariantIsAccepted creates the objects of every option that
// changes their CEL on a real API server: it compiles each expression on
// create and refuses one that does not compile or whose estimated cost
// exceeds its limit. (status.typeChecking, the schema-aware check that
// kube-controller-manager writes, is bench's
// TestCompiledPoliciesPassTheTypeCheck; the differential tests below
// evaluate every expression against real objects.)
func TestEveryVariantIsAccepted(t *testing.T) {
	e := start(t)
	variants := map[string]Options{
		"enforce":         {AllowExemptions: true},
		"audit":           {Modes: policy.Modes{Default: policy.Audit}, AllowExemptions: true},
		"exemption authz": {AllowExemptions: true, ExemptionAuthz: true},
		"no exemptions":   {},
		"mesh by default": {Mesh: mesh.Options{ByDefault: true, SystemNamespaces: []string{"infra"}}, Excluded: []string{"infra"}},
	}
	i := 0
	for name, o := range variants {
		i++
		o.Name, o.Namespace = "v"+strconv.Itoa(i), meshguardNS
		objs, err := Compile(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Run(name, func(t *testing.T) { e.install(t, objs) })
	}
}
