package policies

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/internal/golden"
	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// gceDir holds gce-metadata-address's golden ServiceEntries.
const gceDir = "../mutate/testdata/gce-metadata-address"

// gceKnownDifferences are the webhook's warnings the compiled policies
// cannot give, recognised by their text, with the reason. Everything else
// the webhook says must come from the API server word for word, and every
// stored object must be the same.
var gceKnownDifferences = []struct{ contains, reason string }{
	{"; make the same change in your source manifest",
		"enforce mode: a MutatingAdmissionPolicy cannot warn, and a ValidatingAdmissionPolicy runs after the mutation, when nothing is left to change"},
	{" in spec.hosts and its spec.addresses ",
		"enforce mode: the advice about other hosts is given only when the entry is changed, which a ValidatingAdmissionPolicy running after the mutation cannot tell"},
}

// gceExtraCases complete the goldens with what they do not show.
var gceExtraCases = map[string]string{
	"exempt": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: x
  annotations: {meshguard.dev/exempt: "nginx-http11, gce-metadata-address", meshguard.dev/exempt-reason: "migrating"}
spec: {hosts: [metadata.google.internal], resolution: DNS, location: MESH_EXTERNAL, ports: [{number: 80, name: http, protocol: HTTP}]}`,
	"exempt-without-reason": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: x
  annotations: {meshguard.dev/exempt: gce-metadata-address, meshguard.dev/exempt-reason: " "}
spec: {hosts: [metadata.google.internal], resolution: DNS, location: MESH_EXTERNAL, ports: [{number: 80, name: http, protocol: HTTP}]}`,
	"mutated-before": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: x
  annotations: {meshguard.dev/mutated: " nginx-http11,,nginx-http11"}
spec: {hosts: [metadata], location: MESH_EXTERNAL, ports: [{number: 80, name: http, protocol: HTTP}]}`,
	"repeated-ips": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: x}
spec:
  hosts: [metadata.google.internal, 169.254.169.254, 169.254.169.254/32, 10.0.0.1, 10.0.0.1, "2001:db8::1/128", api.example.com]
  addresses: [10.0.0.1/32]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 80, name: http, protocol: HTTP}]`,
	"many-hosts": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: x}
spec:
  hosts: [a.example.com, b.example.com, c.example.com, d.example.com, e.example.com, f.example.com, g.example.com, h.example.com, i.example.com, j.example.com, k.example.com, l.example.com, metadata.google.internal.]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]`,
	"dynamic-dns": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: x}
spec: {hosts: [metadata.google.internal], resolution: DYNAMIC_DNS, location: MESH_EXTERNAL, ports: [{number: 80, name: http, protocol: HTTP}]}`,
}

// gceCase is one ServiceEntry of the differential, as JSON.
type gceCase struct {
	name string
	obj  []byte
}

func gceCases(t *testing.T) []gceCase {
	t.Helper()
	var cases []gceCase
	for _, name := range golden.Cases(t, gceDir) {
		cases = append(cases, gceCase{name, reviewtest.Load(t, filepath.Join(gceDir, name+golden.InSuffix))})
	}
	for name, manifest := range gceExtraCases {
		cases = append(cases, gceCase{"extra-" + name, []byte(manifest)})
	}
	slices.SortFunc(cases, func(a, b gceCase) int { return strings.Compare(a.name, b.name) })
	return cases
}

// webhook is the webhook's engine with gce-metadata-address alone, serving
// as it does in the cluster.
func webhook(mode policy.Mode) http.Handler {
	engine := policy.NewEngine(policy.Config{
		Rules: policy.Rules{Mutating: []policy.Mutator{mutate.GCEMetadataAddress{}}},
		Modes: policy.Modes{Default: mode}, AllowExemptions: true, Log: logr.Discard(),
	})
	return &review.Handler{Reviewer: engine, Log: logr.Discard()}
}

// inNamespace returns the manifest as JSON named for the case in ns.
func inNamespace(t *testing.T, manifest []byte, name, ns string) []byte {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	meta, _ := m["metadata"].(map[string]any)
	meta["name"], meta["namespace"] = name, ns
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// create sends obj through the API server and returns what it stored.
func (e *env) create(t *testing.T, obj []byte) (*unstructured.Unstructured, error) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(obj); err != nil {
		t.Fatal(err)
	}
	err := e.c.Create(context.Background(), u)
	return u, err
}

// stored is the part of a stored object the engines decide: spec and the
// meshguard.dev/mutated annotation, as normalised JSON.
func stored(t *testing.T, u *unstructured.Unstructured) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"spec": u.Object["spec"], "mutated": u.GetAnnotations()[policy.MutatedAnnotation]})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compareWarnings checks that the API server's warnings are the webhook's,
// but for the known differences; reference are the API server's warnings
// for the same object where no policy applies.
func compareWarnings(t *testing.T, webhook, server, reference []string, known bool) {
	t.Helper()
	var compiled []string
	for _, w := range server {
		if slices.Contains(reference, w) {
			continue // the API server's own (unknown fields pruned), not a policy's
		}
		msg, ok := policyMessage(w)
		if !ok {
			t.Errorf("a warning not from an admission policy: %q", w)
			continue
		}
		compiled = append(compiled, msg)
	}
	for _, w := range webhook {
		if i := slices.Index(compiled, w); i >= 0 {
			compiled = slices.Delete(compiled, i, i+1)
			continue
		}
		reason := ""
		for _, d := range gceKnownDifferences {
			if known && strings.Contains(w, d.contains) {
				reason = d.reason
			}
		}
		if reason == "" {
			t.Errorf("the webhook warns and the compiled policies do not:\n%s\n(the API server warned %q)", w, server)
		} else {
			t.Logf("known difference (%s): the webhook also warns %q", reason, w)
		}
	}
	for _, w := range compiled {
		t.Errorf("the compiled policies warn and the webhook does not:\n%s", w)
	}
}

// story is the story's ServiceEntry, which every compiled mode acts on.
func story(t *testing.T) []byte {
	return reviewtest.Load(t, filepath.Join(gceDir, "story-2018-v1alpha3"+golden.InSuffix))
}

// mutated says the MutatingAdmissionPolicy took effect.
func mutated(u *unstructured.Unstructured, _ []string) bool {
	return u.GetAnnotations()[policy.MutatedAnnotation] != ""
}

// warned says a ValidatingAdmissionPolicy took effect.
func warned(_ *unstructured.Unstructured, w []string) bool { return len(w) > 0 }

// waitFor retries a dry-run create of manifest in ns until done says the
// policies took effect: the API server loads each asynchronously.
func (e *env) waitFor(t *testing.T, ns string, manifest []byte, done func(u *unstructured.Unstructured, warnings []string) bool) {
	t.Helper()
	story := inNamespace(t, manifest, "probe", ns)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(story); err != nil {
			t.Fatal(err)
		}
		e.warnings.take()
		if err := e.c.Create(context.Background(), u, client.DryRunAll); err == nil && done(u, e.warnings.take()) {
			e.warnings.take()
			return
		}
	}
	t.Fatal("the compiled policies never took effect")
}

// TestGCEMetadataAddressCompiledMatchesTheWebhook creates every golden
// ServiceEntry of gce-metadata-address (and a few more) through a real API
// server holding only the compiled policies, and the webhook's own result
// for the same object through the same API server in a namespace the
// policies leave alone: the stored objects must be the same, and so must
// the warnings but for the known differences.
func TestGCEMetadataAddressCompiledMatchesTheWebhook(t *testing.T) {
	e := start(t)
	e.namespace(t, "mapped", nil)
	e.namespace(t, "reference", nil)
	objs, err := Compile(Options{Namespace: meshguardNS, Rules: []string{mutate.GCEMetadataAddress{}.ID()}, AllowExemptions: true, Excluded: []string{"reference"}})
	if err != nil {
		t.Fatal(err)
	}
	e.install(t, objs)
	e.waitFor(t, "mapped", story(t), mutated)
	e.waitFor(t, "mapped", []byte(gceExtraCases["dynamic-dns"]), warned)
	h := webhook(policy.Enforce)
	for _, tc := range gceCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			want, resp := golden.Apply(t, h, inNamespace(t, tc.obj, tc.name, "reference"))
			ref, refErr := e.create(t, want)
			refWarned := e.warnings.take()
			got, err := e.create(t, inNamespace(t, tc.obj, tc.name, "mapped"))
			warned := e.warnings.take()
			if (err == nil) != (refErr == nil) {
				t.Fatalf("the webhook's result: %v; the compiled policies': %v", refErr, err)
			}
			if err != nil {
				t.Logf("both refused by the API server: %v", err)
				return
			}
			if w, g := stored(t, ref), stored(t, got); w != g {
				t.Errorf("stored objects differ:\nwebhook:  %s\ncompiled: %s", w, g)
			}
			compareWarnings(t, resp.Warnings, warned, refWarned, true)
		})
	}
}

// TestAuditModeWarnsInsteadOfActing: in audit mode nothing is mutated or
// denied, and the API server warns what the webhook warns, word for word:
// the would-be change for ServiceEntries, the would-be denial for Ingresses.
func TestAuditModeWarnsInsteadOfActing(t *testing.T) {
	e := start(t)
	e.namespace(t, "audited", map[string]string{"istio-injection": "enabled"})
	e.namespace(t, "reference", nil)
	objs, err := Compile(Options{Namespace: meshguardNS, Modes: policy.Modes{Default: policy.Audit}, AllowExemptions: true, Excluded: []string{"reference"}})
	if err != nil {
		t.Fatal(err)
	}
	e.install(t, objs)
	e.waitFor(t, "audited", story(t), warned)
	h := webhook(policy.Audit)
	for _, tc := range gceCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			in := inNamespace(t, tc.obj, tc.name, "reference")
			resp := reviewtest.Send(t, h, reviewtest.Req{Op: "CREATE", Object: in})
			if !resp.Allowed || len(resp.Patch) > 0 {
				t.Fatalf("the webhook in audit mode acted: %+v", resp)
			}
			ref, refErr := e.create(t, in)
			refWarned := e.warnings.take()
			got, err := e.create(t, inNamespace(t, tc.obj, tc.name, "audited"))
			warned := e.warnings.take()
			if (err == nil) != (refErr == nil) {
				t.Fatalf("unchanged: %v; through the compiled policies: %v", refErr, err)
			}
			if err != nil {
				t.Logf("both refused by the API server: %v", err)
				return
			}
			if w, g := stored(t, ref), stored(t, got); w != g {
				t.Errorf("audit mode changed the object:\nunchanged: %s\ncompiled:  %s", w, g)
			}
			compareWarnings(t, resp.Warnings, warned, refWarned, false)
		})
	}
	t.Run("an Ingress is allowed with the would-be denial", func(t *testing.T) {
		ing := []byte(`{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "audited"},
			"spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}}`)
		e.waitFor(t, "audited", ing, warned)
		if _, err := e.create(t, ing); err != nil {
			t.Fatalf("audit mode denied: %v", err)
		}
		warned := e.warnings.take()
		want := "[ingress-in-mesh] (audit) would deny: Ingress \"web\" is not allowed in namespace \"audited\""
		if len(warned) != 1 || !strings.Contains(warned[0], want) {
			t.Errorf("warnings %q, want one containing %q", warned, want)
		}
	})
}

// TestNothingHappensInExcludedNamespaces: meshguard's own namespace and
// kube-system are matched by no compiled policy.
func TestNothingHappensInExcludedNamespaces(t *testing.T) {
	e := start(t)
	objs, err := Compile(Options{Namespace: meshguardNS, AllowExemptions: true})
	if err != nil {
		t.Fatal(err)
	}
	e.install(t, objs)
	e.namespace(t, "mapped", nil)
	e.waitFor(t, "mapped", story(t), mutated)
	for _, ns := range []string{meshguardNS, "kube-system"} {
		obj := inNamespace(t, story(t), "story", ns)
		got, err := e.create(t, obj)
		if err != nil {
			// Only Istio's CRD validation can refuse the story unchanged.
			if !e.istioCRD {
				t.Fatalf("%s: %v", ns, err)
			}
			t.Logf("%s: unchanged, Istio's CRD refuses the story: %v", ns, err)
			continue
		}
		in := &unstructured.Unstructured{}
		if err := in.UnmarshalJSON(obj); err != nil {
			t.Fatal(err)
		}
		if stored(t, got) != stored(t, in) {
			t.Errorf("%s: the ServiceEntry was mutated: %v", ns, got.Object)
		}
	}
}

// TestGCEPoliciesDeclareOnlyWhatTheyUse keeps usedVariables honest: every
// variable a compiled gce-metadata-address policy declares is used by its
// expressions (each declared variable costs every evaluation of the
// policy, matchConditions included), and pruning keeps what is used (the
// differential tests fail if it drops too much: the API server refuses the
// policy).
func TestGCEPoliciesDeclareOnlyWhatTheyUse(t *testing.T) {
	all := Options{AllowExemptions: true, ExemptionAuthz: true}.gceVariables(mutate.GCEMetadataAddress{}.ID())
	for _, mode := range []policy.Mode{policy.Enforce, policy.Audit} {
		for _, obj := range (Options{Name: "meshguard", AllowExemptions: true, ExemptionAuthz: true}).gceMetadataAddress(mode) {
			var vars []admissionregistrationv1.Variable
			var exprs []string
			switch p := obj.(type) {
			case *admissionregistrationv1.MutatingAdmissionPolicy:
				vars = p.Spec.Variables
				for _, m := range p.Spec.Mutations {
					exprs = append(exprs, m.JSONPatch.Expression)
				}
			case *admissionregistrationv1.ValidatingAdmissionPolicy:
				vars, exprs = p.Spec.Variables, validationExpressions(p.Spec.Validations)
			default:
				continue
			}
			kind := obj.GetObjectKind().GroupVersionKind().Kind
			if len(vars) == 0 || len(vars) >= len(all) {
				t.Errorf("%s %s: %d of %d variables declared, want some and fewer than all", mode, kind, len(vars), len(all))
			}
			used := map[string]bool{}
			for _, v := range usedVariables(vars, exprs...) {
				used[v.Name] = true
			}
			var unused []string
			for _, v := range vars {
				if !used[v.Name] {
					unused = append(unused, v.Name)
				}
			}
			if len(unused) > 0 {
				t.Errorf("%s %s declares variables it never uses: %v", mode, kind, unused)
			}
		}
	}
}
