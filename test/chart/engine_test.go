package chart

import (
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

// The APIs of the compiled policies, as a cluster's discovery (and
// `helm template --api-versions`) names them.
const (
	vapAPI = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
	mapAPI = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
)

// capsWith is helm's default capabilities plus the APIs named.
func capsWith(apis ...string) *chartutil.Capabilities {
	caps := *chartutil.DefaultCapabilities
	caps.APIVersions = append(slices.Clone(caps.APIVersions), apis...)
	return &caps
}

// TestEngine: which rule the API server enforces through a compiled policy
// and which the webhook, for each engine value and each set of served APIs;
// the webhook configurations drop exactly the entries the policies take
// over, and the leader gets the flags and the permissions to write them.
func TestEngine(t *testing.T) {
	tests := map[string]struct {
		values   string
		apis     []string
		compiled []string
	}{
		"auto, a cluster serving both policy kinds":         {"", []string{vapAPI, mapAPI}, []string{"ingress-in-mesh", "gce-metadata-address"}},
		"auto, a cluster serving only ValidatingAdmission…": {"", []string{vapAPI}, []string{"ingress-in-mesh"}},
		"auto, helm template without --api-versions":        {"", nil, nil},
		"webhook, whatever the cluster serves":              {"engine: webhook", []string{vapAPI, mapAPI}, nil},
		"cel":                                               {"engine: cel", []string{vapAPI, mapAPI}, []string{"ingress-in-mesh", "gce-metadata-address"}},
		"a rule that is off is compiled by no one":          {"rules: {ingress-in-mesh: {mode: off}}", []string{vapAPI, mapAPI}, []string{"gce-metadata-address"}},
		"audit mode compiles too (the policies warn)":       {"mode: audit", []string{vapAPI, mapAPI}, []string{"ingress-in-mesh", "gce-metadata-address"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := renderCaps(t, values(t, tc.values), nil, capsWith(tc.apis...))
			if err != nil {
				t.Fatal(err)
			}
			var ingress, serviceEntry bool
			for _, w := range m.Validating.Webhooks {
				ingress = ingress || strings.HasSuffix(w.Name, ".ingress.validate.meshguard.dev")
			}
			for _, w := range m.Mutating.Webhooks {
				serviceEntry = serviceEntry || w.Name == "serviceentry.mutate.meshguard.dev"
			}
			wantIngress := !slices.Contains(tc.compiled, "ingress-in-mesh") && !strings.Contains(tc.values, "ingress-in-mesh: {mode: off}")
			if ingress != wantIngress {
				t.Errorf("Ingress webhook entries: %v, want %v", ingress, wantIngress)
			}
			if want := !slices.Contains(tc.compiled, "gce-metadata-address"); serviceEntry != want {
				t.Errorf("ServiceEntry webhook entry: %v, want %v", serviceEntry, want)
			}
			args := m.Deployment.Spec.Template.Spec.Containers[0].Args
			flag := ""
			for _, a := range args {
				if v, ok := strings.CutPrefix(a, "--compiled-rules="); ok {
					flag = v
				}
			}
			if want := strings.Join(tc.compiled, ","); flag != want {
				t.Errorf("--compiled-rules=%q, want %q", flag, want)
			}
			hasRole := clusterRole(m.ClusterRoles, fullname+"-policies") != nil
			if hasRole != (len(tc.compiled) > 0) {
				t.Errorf("ClusterRole %s-policies rendered: %v, want %v", fullname, hasRole, len(tc.compiled) > 0)
			}
			if len(tc.compiled) > 0 {
				if !slices.Contains(args, "--compiled-policies-owner="+fullname) {
					t.Errorf("no --compiled-policies-owner=%s in %v", fullname, args)
				}
				if role(m.Roles, fullname+"-policy-params") == nil {
					t.Error("no Role for the policies' parameters")
				}
			}
		})
	}
}

// TestEngineCelNeedsTheAPIs: engine cel on a cluster (or a helm template)
// without the policy APIs fails and says what to do, rather than leaving
// a rule enforced by no one.
func TestEngineCelNeedsTheAPIs(t *testing.T) {
	_, err := renderCaps(t, values(t, "engine: cel"), nil, capsWith(vapAPI))
	if err == nil || !strings.Contains(err.Error(), "engine: cel needs "+mapAPI+" for rule gce-metadata-address") ||
		!strings.Contains(err.Error(), "use engine auto or webhook") {
		t.Errorf("got %v", err)
	}
	if _, err := renderCaps(t, values(t, "engine: cel\nrules: {gce-metadata-address: {mode: off}}"), nil, capsWith(vapAPI)); err != nil {
		t.Errorf("engine cel with the missing API's only rule off: %v", err)
	}
}

// TestEngineOnTheOldestSupportedKubernetes: helm template --kube-version
// 1.30 (the chart's floor) without --api-versions renders the webhook for
// every rule, and with the API named compiles as on a newer cluster.
func TestEngineOnTheOldestSupportedKubernetes(t *testing.T) {
	for _, apis := range [][]string{nil, {vapAPI}} {
		caps := capsWith(apis...)
		caps.KubeVersion = chartutil.KubeVersion{Version: "v1.30.0", Major: "1", Minor: "30"}
		m, err := renderCaps(t, values(t, ""), nil, caps)
		if err != nil {
			t.Fatalf("kube 1.30, APIs %v: %v", apis, err)
		}
		compiled := slices.ContainsFunc(m.Deployment.Spec.Template.Spec.Containers[0].Args, func(a string) bool { return strings.HasPrefix(a, "--compiled-rules=ingress-in-mesh") })
		if compiled != (len(apis) > 0) {
			t.Errorf("kube 1.30, APIs %v: compiled %v", apis, compiled)
		}
	}
}
