package chart

import (
	"encoding/json"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// Entry names by rule, with the default mesh selectors.
var (
	ingressEntries   = []string{"ambient.ingress.validate.meshguard.dev", "injection.ingress.validate.meshguard.dev", "revision.ingress.validate.meshguard.dev"}
	namespaceEntry   = "namespace.validate.meshguard.dev"
	configMapEntries = []string{"ambient.configmap.mutate.meshguard.dev", "injection.configmap.mutate.meshguard.dev", "revision.configmap.mutate.meshguard.dev"}
	serviceEntry     = "serviceentry.mutate.meshguard.dev"
	gatewayEntry     = "gateway.mutate.meshguard.dev"
	probeEntries     = []string{"ambient.probes.validate.meshguard.dev", "injection.probes.validate.meshguard.dev", "revision.probes.validate.meshguard.dev"}
)

func allEntries() []string {
	all := slices.Concat(ingressEntries, []string{namespaceEntry}, probeEntries, configMapEntries, []string{serviceEntry, gatewayEntry})
	slices.Sort(all)
	return all
}

func TestWebhookEntriesShape(t *testing.T) {
	m := render(t, nil)
	if got := m.webhookNames(); !slices.Equal(got, allEntries()) {
		t.Fatalf("webhook entries = %v, want %v", got, allEntries())
	}
	if m.Validating.Name != fullname || m.Mutating.Name != fullname {
		t.Errorf("configurations are named %q and %q, want %q (the flags the server gets)", m.Validating.Name, m.Mutating.Name, fullname)
	}
	for name, w := range m.webhooks() {
		t.Run(name, func(t *testing.T) {
			suffix := ".validate.meshguard.dev"
			if w.Mutating {
				suffix = ".mutate.meshguard.dev"
			}
			checks := map[string]bool{
				"the name is fully qualified under " + suffix:                    strings.HasSuffix(name, suffix),
				"only AdmissionReview v1":                                        slices.Equal(w.ReviewVersions, []string{"v1"}),
				"no side effects":                                                w.SideEffects == admissionregistrationv1.SideEffectClassNone,
				"the default timeout of 3 seconds":                               w.TimeoutSeconds == 3,
				"it calls the chart's Service on 443":                            w.ClientConfig.Service != nil && w.ClientConfig.Service.Name == fullname && w.ClientConfig.Service.Namespace == releaseNS && deref(w.ClientConfig.Service.Port) == 443,
				"validating entries call /validate, mutating /mutate":            deref(w.ClientConfig.Service.Path) == map[bool]string{false: "/validate", true: "/mutate"}[w.Mutating],
				"mutations are reinvoked after other mutations":                  !w.Mutating || w.ReinvocationPolicy == admissionregistrationv1.IfNeededReinvocationPolicy,
				"only CREATE and UPDATE are intercepted":                         onlyWrites(w),
				"system namespaces and the release namespace are never reviewed": excludes(w, "kube-system", "kube-node-lease", releaseNS),
				"no caBundle before the self mode injects one":                   len(w.ClientConfig.CABundle) == 0,
			}
			for what, ok := range checks {
				if !ok {
					t.Errorf("%s: not so", what)
				}
			}
		})
	}
	resources := map[string]string{
		ingressEntries[0]: "networking.k8s.io/v1/ingresses", namespaceEntry: "/v1/namespaces",
		configMapEntries[0]: "/v1/configmaps", serviceEntry: "networking.istio.io/v1,v1beta1,v1alpha3/serviceentries",
		gatewayEntry: "networking.istio.io/v1,v1beta1,v1alpha3/gateways",
	}
	for name, want := range resources {
		r := m.webhooks()[name].Rules[0]
		if got := r.APIGroups[0] + "/" + strings.Join(r.APIVersions, ",") + "/" + r.Resources[0]; got != want {
			t.Errorf("%s intercepts %s, want %s", name, got, want)
		}
	}
}

func TestModesAndFailurePolicy(t *testing.T) {
	// failurePolicy per entry name prefix; namespace-joins-mesh only warns
	// and fails open whatever the mode.
	tests := map[string]struct {
		values       string
		wantFailure  map[string]admissionregistrationv1.FailurePolicyType // entry → policy; unlisted entries must be absent
		wantMode     string
		wantRuleMode []string
	}{
		"enforce fails closed so no write bypasses the rules": {
			values:      "",
			wantFailure: policies(allEntries(), "Fail", warnOnly()...),
			wantMode:    "enforce",
		},
		"audit fails open and tells the server": {
			values:      "mode: audit",
			wantFailure: policies(allEntries(), "Ignore"),
			wantMode:    "audit",
		},
		"an explicit failurePolicy wins over the mode, except for the namespace rule": {
			values:      "mode: audit\nfailurePolicy: Fail",
			wantFailure: policies(allEntries(), "Fail", warnOnly()...),
			wantMode:    "audit",
		},
		"a rule in audit under global enforce fails open alone": {
			values:       "rules: {nginx-http11: {mode: audit}}",
			wantFailure:  policies(allEntries(), "Fail", append(warnOnly(), configMapEntries[0], "Ignore", configMapEntries[1], "Ignore", configMapEntries[2], "Ignore")...),
			wantMode:     "enforce",
			wantRuleMode: []string{"nginx-http11=audit"},
		},
		"a rule enforced under global audit fails closed alone": {
			values:       "mode: audit\nrules: {gce-metadata-address: {mode: enforce}}",
			wantFailure:  policies(allEntries(), "Ignore", serviceEntry, "Fail"),
			wantMode:     "audit",
			wantRuleMode: []string{"gce-metadata-address=enforce"},
		},
		"an off rule has no webhook entry at all": {
			values:       "rules: {ingress-in-mesh: {mode: off}}",
			wantFailure:  policies(without(allEntries(), ingressEntries...), "Fail", warnOnly()...),
			wantMode:     "enforce",
			wantRuleMode: []string{"ingress-in-mesh=off"},
		},
		"a quoted off is the same as the unquoted one, which YAML reads as false": {
			values:       `rules: {ingress-in-mesh: {mode: "off"}}`,
			wantFailure:  policies(without(allEntries(), ingressEntries...), "Fail", warnOnly()...),
			wantMode:     "enforce",
			wantRuleMode: []string{"ingress-in-mesh=off"},
		},
		"every rule's mode reaches the server": {
			values: `rules: {ingress-in-mesh: {mode: audit}, namespace-joins-mesh: {mode: off}, nginx-http11: {mode: enforce}, gce-metadata-address: {mode: off}, gateway-credential-name: {mode: off}, probe-rewrite-disabled: {mode: off}}`,
			wantFailure: policies(slices.Concat(ingressEntries, configMapEntries), "Fail",
				ingressEntries[0], "Ignore", ingressEntries[1], "Ignore", ingressEntries[2], "Ignore"),
			wantMode:     "enforce",
			wantRuleMode: []string{"gateway-credential-name=off", "gce-metadata-address=off", "ingress-in-mesh=audit", "namespace-joins-mesh=off", "nginx-http11=enforce", "probe-rewrite-disabled=off"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := render(t, values(t, tc.values))
			got := map[string]admissionregistrationv1.FailurePolicyType{}
			for n, w := range m.webhooks() {
				got[n] = w.FailurePolicy
			}
			for n, want := range tc.wantFailure {
				if got[n] != want {
					t.Errorf("%s: failurePolicy %q, want %q", n, got[n], want)
				}
			}
			for n := range got {
				if _, ok := tc.wantFailure[n]; !ok {
					t.Errorf("%s is rendered, want it absent", n)
				}
			}
			args := m.args(t)
			if args["--mode"][0] != tc.wantMode {
				t.Errorf("--mode=%s, want %s", args["--mode"][0], tc.wantMode)
			}
			ruleModes := args["--rule-mode"]
			slices.Sort(ruleModes)
			if !slices.Equal(ruleModes, tc.wantRuleMode) {
				t.Errorf("--rule-mode %v, want %v", ruleModes, tc.wantRuleMode)
			}
		})
	}
}

func TestConfigurationsFollowTheRules(t *testing.T) {
	tests := map[string]struct {
		values                     string
		wantValidating, wantMutate bool
	}{
		"both configurations by default": {values: "", wantValidating: true, wantMutate: true},
		"no validating configuration (nor its flag) when every validating rule is off": {
			values: "rules: {ingress-in-mesh: {mode: off}, namespace-joins-mesh: {mode: off}, probe-rewrite-disabled: {mode: off}}", wantMutate: true,
		},
		"no mutating configuration (nor its flag) when every mutating rule is off": {
			values: "rules: {nginx-http11: {mode: off}, gce-metadata-address: {mode: off}, gateway-credential-name: {mode: off}}", wantValidating: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := render(t, values(t, tc.values))
			args := m.args(t)
			if (m.Validating != nil) != tc.wantValidating || (args["--validating-webhook-configuration"] != nil) != tc.wantValidating {
				t.Errorf("validating configuration rendered %v, flag %v; want %v", m.Validating != nil, args["--validating-webhook-configuration"], tc.wantValidating)
			}
			if (m.Mutating != nil) != tc.wantMutate || (args["--mutating-webhook-configuration"] != nil) != tc.wantMutate {
				t.Errorf("mutating configuration rendered %v, flag %v; want %v", m.Mutating != nil, args["--mutating-webhook-configuration"], tc.wantMutate)
			}
		})
	}
}

func TestExcludedNamespaces(t *testing.T) {
	m := render(t, values(t, "excludedNamespaces: [istio-system, monitoring, kube-system]"))
	for name, w := range m.webhooks() {
		if !excludes(w, "kube-system", "kube-node-lease", releaseNS, "istio-system", "monitoring") {
			t.Errorf("%s does not exclude every excluded namespace: %+v", name, w.NamespaceSelector)
		}
	}
	if got := m.args(t)["--system-namespaces"][0]; got != releaseNS+",istio-system,monitoring,kube-system" {
		t.Errorf("--system-namespaces=%s, want the release namespace and the excluded ones", got)
	}
	// The audit leaves out exactly what every entry's namespaceSelector does.
	audited := strings.Split(m.args(t)["--excluded-namespaces"][0], ",")
	slices.Sort(audited)
	for name, w := range m.webhooks() {
		for _, e := range w.NamespaceSelector.MatchExpressions {
			if e.Key == "kubernetes.io/metadata.name" && e.Operator == "NotIn" && !slices.Equal(slices.Sorted(slices.Values(e.Values)), audited) {
				t.Errorf("%s excludes %v, the audit %v: they must agree", name, e.Values, audited)
			}
		}
	}
}

func TestMeshByDefault(t *testing.T) {
	m := render(t, values(t, "meshByDefault: true"))
	names := m.webhookNames()
	for _, want := range []string{"default.ingress.validate.meshguard.dev", "default.configmap.mutate.meshguard.dev"} {
		if !slices.Contains(names, want) {
			t.Errorf("meshByDefault renders no %s; entries: %v", want, names)
		}
	}
	if got := m.args(t)["--mesh-by-default"][0]; got != "true" {
		t.Errorf("--mesh-by-default=%s, want true", got)
	}
}

func TestIstioIngressValues(t *testing.T) {
	args := render(t, nil).args(t)
	if args["--istio-ingress-class"][0] != "istio" || args["--istio-ingress-controller-mode"][0] != "STRICT" {
		t.Errorf("defaults: --istio-ingress-class=%v --istio-ingress-controller-mode=%v, want Istio's defaults istio and STRICT",
			args["--istio-ingress-class"], args["--istio-ingress-controller-mode"])
	}
	args = render(t, values(t, "istio: {ingressClass: mesh-gw, ingressControllerMode: DEFAULT}")).args(t)
	if args["--istio-ingress-class"][0] != "mesh-gw" || args["--istio-ingress-controller-mode"][0] != "DEFAULT" {
		t.Errorf("custom values did not reach the flags: %v %v", args["--istio-ingress-class"], args["--istio-ingress-controller-mode"])
	}
	if _, err := renderErr(t, values(t, "istio: {ingressControllerMode: sometimes}")); err == nil {
		t.Error("the schema accepted an ingressControllerMode Istio does not have")
	}
}

// excludes reports whether the entry's namespaceSelector keeps every name
// out with a kubernetes.io/metadata.name NotIn expression.
func excludes(w webhook, names ...string) bool {
	if w.NamespaceSelector == nil {
		return false
	}
	for _, e := range w.NamespaceSelector.MatchExpressions {
		if e.Key == "kubernetes.io/metadata.name" && e.Operator == "NotIn" {
			for _, n := range names {
				if !slices.Contains(e.Values, n) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// policies maps every entry to def, then applies name, policy overrides.
func policies(entries []string, def string, overrides ...string) map[string]admissionregistrationv1.FailurePolicyType {
	out := map[string]admissionregistrationv1.FailurePolicyType{}
	for _, e := range entries {
		out[e] = admissionregistrationv1.FailurePolicyType(def)
	}
	for i := 0; i+1 < len(overrides); i += 2 {
		if _, ok := out[overrides[i]]; ok {
			out[overrides[i]] = admissionregistrationv1.FailurePolicyType(overrides[i+1])
		}
	}
	return out
}

// onlyWrites reports whether every rule of the entry intercepts exactly
// CREATE and UPDATE.
func onlyWrites(w webhook) bool {
	for _, r := range w.Rules {
		if !slices.Equal(r.Operations, []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}) {
			return false
		}
	}
	return len(w.Rules) > 0
}

// warnOnly are the entries of the rules that never deny: they fail open
// whatever the mode.
func warnOnly() []string {
	out := []string{namespaceEntry, "Ignore"}
	for _, e := range probeEntries {
		out = append(out, e, "Ignore")
	}
	return out
}

func without(list []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return slices.Contains(drop, s) })
}

// declaration is one rule as `webhook rules -o json` prints it.
type declaration struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Kinds []struct {
		Group    string   `json:"group"`
		Versions []string `json:"versions"`
		Resource string   `json:"resource"`
	} `json:"kinds"`
	Operations []string `json:"operations"`
	MeshOnly   bool     `json:"meshOnly"`
}

// declarations asks the webhook itself which objects its rules review.
func declarations(t *testing.T) []declaration {
	t.Helper()
	cmd := exec.Command("go", "run", "./cmd/webhook", "rules", "-o", "json")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("webhook rules: %v", err)
	}
	var ds []declaration
	if err := json.Unmarshal(out, &ds); err != nil || len(ds) == 0 {
		t.Fatalf("webhook rules printed no declarations (%v):\n%s", err, out)
	}
	return ds
}

// TestWebhookEntriesAreTheRulesDeclarations renders the chart with one rule
// on at a time: the entries left are that rule's, and they must send it
// exactly what it declares, on its path, in every mesh selector when it acts
// only in the mesh. A rule the chart does not register fails here.
func TestWebhookEntriesAreTheRulesDeclarations(t *testing.T) {
	ds := declarations(t)
	selectors := len(render(t, nil).webhooks()[serviceEntry].NamespaceSelector.MatchExpressions)
	seen := map[string]string{}
	for _, d := range ds {
		t.Run(d.ID, func(t *testing.T) {
			rules := map[string]any{}
			for _, other := range ds {
				if other.ID != d.ID {
					rules[other.ID] = map[string]any{"mode": "off"}
				}
			}
			entries := render(t, map[string]any{"rules": rules}).webhooks()
			want := 1
			if d.MeshOnly {
				want = 3 // injection, revision, ambient
			}
			if len(entries) != want {
				t.Fatalf("%d webhook entries send objects to %s, want %d (mesh-only: %v): %v", len(entries), d.ID, want, d.MeshOnly, slices.Collect(maps.Keys(entries)))
			}
			for name, w := range entries {
				if owner, dup := seen[name]; dup {
					t.Errorf("entry %s is both %s's and %s's", name, owner, d.ID)
				}
				seen[name] = d.ID
				path := map[string]string{"validating": "/validate", "mutating": "/mutate"}[d.Type]
				if got := deref(w.ClientConfig.Service.Path); got != path || w.Mutating != (d.Type == "mutating") {
					t.Errorf("%s: path %s in a mutating=%v configuration, want %s for a %s rule", name, got, w.Mutating, path, d.Type)
				}
				if len(w.Rules) != len(d.Kinds) {
					t.Fatalf("%s: %d rules, want one per declared kind: %+v", name, len(w.Rules), d.Kinds)
				}
				for i, r := range w.Rules {
					k := d.Kinds[i]
					var ops []string
					for _, op := range r.Operations {
						ops = append(ops, string(op))
					}
					if !slices.Equal(r.APIGroups, []string{k.Group}) || !slices.Equal(r.APIVersions, k.Versions) ||
						!slices.Equal(r.Resources, []string{k.Resource}) || !slices.Equal(ops, d.Operations) {
						t.Errorf("%s sends %v %v %v %v; %s declares group %q, versions %v, resource %q, operations %v",
							name, r.APIGroups, r.APIVersions, r.Resources, ops, d.ID, k.Group, k.Versions, k.Resource, d.Operations)
					}
				}
				// Every entry excludes the system namespaces; a mesh-only
				// entry adds its mesh selector's expressions.
				if n := len(w.NamespaceSelector.MatchExpressions); (n > selectors) != d.MeshOnly {
					t.Errorf("%s: %d namespace selector expressions; mesh-only is %v", name, n, d.MeshOnly)
				}
			}
		})
	}
	if all := render(t, nil).webhookNames(); len(all) != len(seen) {
		t.Errorf("the chart has entries %v; only %v belong to a declared rule", all, slices.Sorted(maps.Keys(seen)))
	}
}
