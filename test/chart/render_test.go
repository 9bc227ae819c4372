package chart

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test, relative to this package.
var chartDir = filepath.Join("..", "..", "deploy", "charts", "meshguard")

// Release name and namespace of every rendering; fullname is what the chart
// derives from them.
const (
	releaseName = "mg"
	releaseNS   = "meshguard-system"
	fullname    = "mg-meshguard"
)

// manifests are the objects of one rendering, decoded into their types.
type manifests struct {
	Deployment          *appsv1.Deployment
	Service             *corev1.Service
	ServiceAccount      *corev1.ServiceAccount
	PDB                 *policyv1.PodDisruptionBudget
	NetworkPolicy       *networkingv1.NetworkPolicy
	Validating          *admissionregistrationv1.ValidatingWebhookConfiguration
	Mutating            *admissionregistrationv1.MutatingWebhookConfiguration
	Secrets             []corev1.Secret
	ConfigMaps          []corev1.ConfigMap
	ClusterRoles        []rbacv1.ClusterRole
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	Roles               []rbacv1.Role
	RoleBindings        []rbacv1.RoleBinding
	// Hooks are Helm hook resources (helm.sh/hook), by kind, kept apart
	// from what the release installs.
	Hooks map[string][]string
	// Custom resources (cert-manager, Prometheus Operator), by kind.
	Custom map[string][]map[string]any
	Notes  string
	// Docs holds every rendered document in order, for the API server test.
	Docs []string
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return c
}

// renderErr renders the chart with values the way `helm template` does:
// values merged over the chart's defaults and checked against
// values.schema.json, then every template executed.
func renderErr(t testing.TB, values map[string]any) (*manifests, error) {
	t.Helper()
	return renderLive(t, values, nil)
}

// renderLive renders against a cluster: lookup asks provider, as during
// `helm upgrade` (nil: no cluster, as in `helm template`).
func renderLive(t testing.TB, values map[string]any, provider engine.ClientProvider) (*manifests, error) {
	t.Helper()
	return renderCaps(t, values, provider, chartutil.DefaultCapabilities)
}

// renderCaps renders for a cluster with caps (Kubernetes version, served
// APIs), as `helm template --kube-version --api-versions` does.
func renderCaps(t testing.TB, values map[string]any, provider engine.ClientProvider, caps *chartutil.Capabilities) (*manifests, error) {
	t.Helper()
	c := loadChart(t)
	vals, err := chartutil.ToRenderValues(c, values, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: releaseNS, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, err
	}
	var out map[string]string
	if provider == nil {
		out, err = engine.Render(c, vals)
	} else {
		out, err = engine.RenderWithClientProvider(c, vals, provider)
	}
	if err != nil {
		return nil, err
	}
	return decode(t, out)
}

// values parses YAML values, as `helm template -f` would.
func values(t testing.TB, text string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("values %q: %v", text, err)
	}
	return v
}

// render is renderErr for values that must render.
func render(t testing.TB, values map[string]any) *manifests {
	t.Helper()
	m, err := renderErr(t, values)
	if err != nil {
		t.Fatalf("rendering with %v: %v", values, err)
	}
	return m
}

func decode(t testing.TB, files map[string]string) (*manifests, error) {
	t.Helper()
	m := &manifests{Custom: map[string][]map[string]any{}}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if path.Base(name) == "NOTES.txt" {
			m.Notes = files[name]
			continue
		}
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		for _, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			if err := m.add(doc); err != nil {
				return nil, fmt.Errorf("%s: %w\n%s", name, err, doc)
			}
		}
	}
	return m, nil
}

func stripComments(doc string) string {
	var keep []string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// add decodes one document strictly: a field the type does not know is a
// bug in a template, not something to drop silently.
func (m *manifests) add(doc string) error {
	var head struct {
		Kind     string
		Metadata struct{ Annotations map[string]string }
	}
	if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
		return err
	}
	if head.Metadata.Annotations["helm.sh/hook"] != "" {
		if m.Hooks == nil {
			m.Hooks = map[string][]string{}
		}
		m.Hooks[head.Kind] = append(m.Hooks[head.Kind], doc)
		return nil
	}
	m.Docs = append(m.Docs, doc)
	into := func(v any) error { return yaml.UnmarshalStrict([]byte(doc), v) }
	switch head.Kind {
	case "Deployment":
		m.Deployment = &appsv1.Deployment{}
		return into(m.Deployment)
	case "Service":
		m.Service = &corev1.Service{}
		return into(m.Service)
	case "ServiceAccount":
		m.ServiceAccount = &corev1.ServiceAccount{}
		return into(m.ServiceAccount)
	case "PodDisruptionBudget":
		m.PDB = &policyv1.PodDisruptionBudget{}
		return into(m.PDB)
	case "NetworkPolicy":
		m.NetworkPolicy = &networkingv1.NetworkPolicy{}
		return into(m.NetworkPolicy)
	case "ValidatingWebhookConfiguration":
		m.Validating = &admissionregistrationv1.ValidatingWebhookConfiguration{}
		return into(m.Validating)
	case "MutatingWebhookConfiguration":
		m.Mutating = &admissionregistrationv1.MutatingWebhookConfiguration{}
		return into(m.Mutating)
	case "Secret":
		return appendInto(into, &m.Secrets)
	case "ConfigMap":
		return appendInto(into, &m.ConfigMaps)
	case "ClusterRole":
		return appendInto(into, &m.ClusterRoles)
	case "ClusterRoleBinding":
		return appendInto(into, &m.ClusterRoleBindings)
	case "Role":
		return appendInto(into, &m.Roles)
	case "RoleBinding":
		return appendInto(into, &m.RoleBindings)
	case "CustomResourceDefinition":
		if err := into(&apiextensionsv1.CustomResourceDefinition{}); err != nil {
			return err
		}
		return m.addCustom(head.Kind, into)
	case "Certificate", "Issuer", "ServiceMonitor", "PrometheusRule":
		return m.addCustom(head.Kind, into)
	}
	return fmt.Errorf("unexpected kind %q: add it to the decoder and test it", head.Kind)
}

// addCustom keeps a document of a kind the tests read as a map.
func (m *manifests) addCustom(kind string, into func(any) error) error {
	var obj map[string]any
	if err := into(&obj); err != nil {
		return err
	}
	m.Custom[kind] = append(m.Custom[kind], obj)
	return nil
}

func appendInto[T any](into func(any) error, list *[]T) error {
	var v T
	if err := into(&v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

// container is the webhook container of the Deployment.
func (m *manifests) container(t testing.TB) corev1.Container {
	t.Helper()
	if m.Deployment == nil || len(m.Deployment.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("want a Deployment with one container")
	}
	return m.Deployment.Spec.Template.Spec.Containers[0]
}

// args returns the container's arguments as flag → values ("--rule-mode"
// can repeat).
func (m *manifests) args(t testing.TB) map[string][]string {
	t.Helper()
	flags := map[string][]string{}
	for _, a := range m.container(t).Args {
		name, value, _ := strings.Cut(a, "=")
		flags[name] = append(flags[name], value)
	}
	return flags
}

// webhook is one entry of either configuration, flattened for assertions.
type webhook struct {
	Name               string
	FailurePolicy      admissionregistrationv1.FailurePolicyType
	TimeoutSeconds     int32
	Rules              []admissionregistrationv1.RuleWithOperations
	NamespaceSelector  *metav1.LabelSelector
	MatchConditions    []admissionregistrationv1.MatchCondition
	ClientConfig       admissionregistrationv1.WebhookClientConfig
	SideEffects        admissionregistrationv1.SideEffectClass
	ReviewVersions     []string
	ReinvocationPolicy admissionregistrationv1.ReinvocationPolicyType
	Mutating           bool
}

// webhooks lists the entries of both configurations, by name.
func (m *manifests) webhooks() map[string]webhook {
	out := map[string]webhook{}
	if m.Validating != nil {
		for _, w := range m.Validating.Webhooks {
			out[w.Name] = webhook{
				Name: w.Name, FailurePolicy: deref(w.FailurePolicy), TimeoutSeconds: deref(w.TimeoutSeconds),
				Rules: w.Rules, NamespaceSelector: w.NamespaceSelector, MatchConditions: w.MatchConditions,
				ClientConfig: w.ClientConfig, SideEffects: deref(w.SideEffects), ReviewVersions: w.AdmissionReviewVersions,
			}
		}
	}
	if m.Mutating != nil {
		for _, w := range m.Mutating.Webhooks {
			out[w.Name] = webhook{
				Name: w.Name, FailurePolicy: deref(w.FailurePolicy), TimeoutSeconds: deref(w.TimeoutSeconds),
				Rules: w.Rules, NamespaceSelector: w.NamespaceSelector, MatchConditions: w.MatchConditions,
				ClientConfig: w.ClientConfig, SideEffects: deref(w.SideEffects), ReviewVersions: w.AdmissionReviewVersions,
				ReinvocationPolicy: deref(w.ReinvocationPolicy), Mutating: true,
			}
		}
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// webhookNames lists the entry names, sorted.
func (m *manifests) webhookNames() []string {
	var names []string
	for name := range m.webhooks() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
