package chart

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// testCA is any PEM certificate; the chart only base64-encodes it.
const testCA = "-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n"

func TestCertificateModes(t *testing.T) {
	providedValues := "certificates: {mode: provided, provided: {secretName: my-tls, caBundle: \"" +
		"-----BEGIN CERTIFICATE-----\\nMIIBdGVzdA==\\n-----END CERTIFICATE-----\\n\"}}"
	tests := map[string]struct {
		values string
		checks map[string]func(*manifests) bool
	}{
		"self (the default) generates and rotates its own certificates": {
			values: "",
			checks: map[string]func(*manifests) bool{
				"the server runs the rotator for the chart's Service, Secret and configurations": func(m *manifests) bool {
					a := m.args(t)
					return a["--cert-mode"][0] == "self" && a["--cert-secret"][0] == fullname+"-tls" &&
						a["--webhook-service"][0] == fullname+"."+releaseNS+".svc" &&
						a["--validating-webhook-configuration"][0] == fullname && a["--mutating-webhook-configuration"][0] == fullname &&
						a["--cert-validity"][0] == "8760h" && a["--cert-renew-before"][0] == "2160h"
				},
				"the Secret exists, empty, so no create verb is needed": func(m *manifests) bool {
					return len(m.Secrets) == 1 && m.Secrets[0].Name == fullname+"-tls" && len(m.Secrets[0].Data) == 0
				},
				"the Secret is reachable by name only, without create or delete": func(m *manifests) bool {
					r := role(m.Roles, fullname+"-certs")
					return r != nil && len(r.Rules) == 1 && slices.Equal(r.Rules[0].ResourceNames, []string{fullname + "-tls"}) &&
						slices.Equal(r.Rules[0].Resources, []string{"secrets"}) &&
						slices.Equal(r.Rules[0].Verbs, []string{"get", "list", "watch", "update"}) && r.Namespace == releaseNS
				},
				"the webhook configurations are reachable by name only": func(m *manifests) bool {
					r := clusterRole(m.ClusterRoles, fullname+"-certs")
					return r != nil && len(r.Rules) == 1 && slices.Equal(r.Rules[0].ResourceNames, []string{fullname}) &&
						slices.Equal(r.Rules[0].Verbs, []string{"get", "list", "watch", "update"})
				},
				"no cert-manager objects and no injection annotation": func(m *manifests) bool {
					return len(m.Custom) == 0 && m.Validating.Annotations == nil && m.Mutating.Annotations == nil
				},
			},
		},
		"cert-manager issues the certificate and injects the CA": {
			values: "certificates: {mode: cert-manager}",
			checks: map[string]func(*manifests) bool{
				"both configurations ask cainjector for the serving Certificate's CA": func(m *manifests) bool {
					want := releaseNS + "/" + fullname + "-serving"
					return m.Validating.Annotations["cert-manager.io/inject-ca-from"] == want && m.Mutating.Annotations["cert-manager.io/inject-ca-from"] == want
				},
				"a self-signed CA chain is created when no issuer is given": func(m *manifests) bool {
					return len(m.Custom["Issuer"]) == 2 && len(m.Custom["Certificate"]) == 2
				},
				"the serving Certificate names the Service and is issued by the CA": func(m *manifests) bool {
					c := custom(m, "Certificate", fullname+"-serving")
					spec, _ := c["spec"].(map[string]any)
					dns, _ := spec["dnsNames"].([]any)
					issuer, _ := spec["issuerRef"].(map[string]any)
					return len(dns) > 0 && dns[0] == fullname+"."+releaseNS+".svc" && issuer["name"] == fullname+"-ca" &&
						spec["secretName"] == fullname+"-serving-cert"
				},
				"the server reads the Secret volume cert-manager fills": func(m *manifests) bool {
					v := volume(m.Deployment.Spec.Template.Spec.Volumes, "certs")
					return m.args(t)["--cert-mode"][0] == "external" && v.Secret != nil && v.Secret.SecretName == fullname+"-serving-cert"
				},
				"no self-mode Secret or RBAC": func(m *manifests) bool {
					return len(m.Secrets) == 0 && role(m.Roles, fullname+"-certs") == nil && clusterRole(m.ClusterRoles, fullname+"-certs") == nil
				},
			},
		},
		"cert-manager with a given issuer creates no CA of its own": {
			values: "certificates: {mode: cert-manager, certManager: {issuerRef: {name: corp-ca, kind: ClusterIssuer}}}",
			checks: map[string]func(*manifests) bool{
				"only the serving Certificate, issued by the given issuer": func(m *manifests) bool {
					c := custom(m, "Certificate", fullname+"-serving")
					issuer, _ := c["spec"].(map[string]any)["issuerRef"].(map[string]any)
					return len(m.Custom["Issuer"]) == 0 && len(m.Custom["Certificate"]) == 1 &&
						issuer["name"] == "corp-ca" && issuer["kind"] == "ClusterIssuer"
				},
			},
		},
		"provided uses an existing Secret and CA bundle": {
			values: providedValues,
			checks: map[string]func(*manifests) bool{
				"every entry carries the CA bundle": func(m *manifests) bool {
					for _, w := range m.webhooks() {
						if string(w.ClientConfig.CABundle) != testCA {
							return false
						}
					}
					return len(m.webhooks()) > 0
				},
				"the server reads the given Secret": func(m *manifests) bool {
					v := volume(m.Deployment.Spec.Template.Spec.Volumes, "certs")
					return m.args(t)["--cert-mode"][0] == "external" && v.Secret != nil && v.Secret.SecretName == "my-tls" &&
						deref(v.Secret.DefaultMode) == 0o440
				},
				"nothing to generate or inject": func(m *manifests) bool {
					return len(m.Secrets) == 0 && role(m.Roles, fullname+"-certs") == nil && len(m.Custom) == 0 && m.Validating.Annotations == nil
				},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := render(t, values(t, tc.values))
			for what, check := range tc.checks {
				if !check(m) {
					t.Errorf("%s: not so", what)
				}
			}
			// In every mode: the rules' read-only access, and nothing more.
			base := clusterRole(m.ClusterRoles, fullname)
			want := []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "ingressclasses"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"security.istio.io"}, Resources: []string{"peerauthentications"}, Verbs: []string{"get", "list", "watch"}},
			}
			if base == nil || !slices.EqualFunc(base.Rules, want, policyRuleEqual) {
				t.Errorf("the rules' ClusterRole = %+v, want %+v", base, want)
			}
			for _, b := range m.ClusterRoleBindings {
				if len(b.Subjects) != 1 || b.Subjects[0].Name != fullname || b.Subjects[0].Namespace != releaseNS {
					t.Errorf("ClusterRoleBinding %s binds %+v, want only the chart's ServiceAccount", b.Name, b.Subjects)
				}
			}
		})
	}
}

func TestSelfModeCABundleOnUpgrade(t *testing.T) {
	tests := map[string]struct {
		secret *corev1.Secret // in the cluster; nil: none
		want   string
	}{
		"a first install renders no caBundle: the rotator injects it": {want: ""},
		"an upgrade keeps the CA the rotator stored, so calls do not fail until it re-injects": {
			secret: &corev1.Secret{Data: map[string][]byte{"ca.crt": []byte(testCA), "tls.crt": []byte("x")}},
			want:   testCA,
		},
		"a Secret the rotator has not filled yet renders no caBundle": {secret: &corev1.Secret{}, want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var objs []runtime.Object
			if tc.secret != nil {
				s := tc.secret.DeepCopy()
				s.APIVersion, s.Kind = "v1", "Secret"
				s.Name, s.Namespace = fullname+"-tls", releaseNS
				objs = append(objs, s)
			}
			m, err := renderLive(t, nil, secretsProvider{dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), toUnstructured(t, objs)...)})
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range m.webhooks() {
				if string(w.ClientConfig.CABundle) != tc.want {
					t.Errorf("%s: caBundle %q, want %q", name, w.ClientConfig.CABundle, tc.want)
				}
			}
		})
	}
}

// secretsProvider answers the chart's only lookup, of Secrets.
type secretsProvider struct {
	client *dynamicfake.FakeDynamicClient
}

func (p secretsProvider) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	if apiVersion != "v1" || kind != "Secret" {
		return nil, false, fmt.Errorf("unexpected lookup of %s %s", apiVersion, kind)
	}
	return p.client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}), true, nil
}

func toUnstructured(t *testing.T, objs []runtime.Object) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func role(rs []rbacv1.Role, name string) *rbacv1.Role {
	for i := range rs {
		if rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}

func clusterRole(rs []rbacv1.ClusterRole, name string) *rbacv1.ClusterRole {
	for i := range rs {
		if rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}

func policyRuleEqual(a, b rbacv1.PolicyRule) bool {
	return slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) &&
		slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.ResourceNames, b.ResourceNames)
}

func custom(m *manifests, kind, name string) map[string]any {
	for _, obj := range m.Custom[kind] {
		if meta, _ := obj["metadata"].(map[string]any); meta["name"] == name {
			return obj
		}
	}
	return map[string]any{}
}
