package harness

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Release the chart is rendered as. The chart names both webhook
// configurations after its fullname, which for this release name is the
// release name itself.
const (
	ChartReleaseName      = "meshguard"
	ChartReleaseNamespace = "meshguard-system"
	// chartServingSecret is the Secret named in certificates.provided; it
	// is rendered into the Deployment only, which the tests do not create.
	chartServingSecret = "meshguard-e2e-serving-cert"
)

// ChartWebhooks are the webhook configurations of one rendering of the
// chart, exactly as `helm install` would create them.
type ChartWebhooks struct {
	Validating *admissionregistrationv1.ValidatingWebhookConfiguration
	Mutating   *admissionregistrationv1.MutatingWebhookConfiguration
}

// ChartDir returns the path of the Helm chart in the repository.
func ChartDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "deploy", "charts", "meshguard")
}

// RenderChartWebhooks renders the chart with Helm's Go engine the way
// `helm template` does (values merged over the chart's defaults and checked
// against values.schema.json) and returns its webhook configurations. Either
// is nil when the values turn all of its rules off.
func RenderChartWebhooks(t testing.TB, values map[string]any) ChartWebhooks {
	t.Helper()
	ch, err := loader.Load(ChartDir(t))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{
		Name: ChartReleaseName, Namespace: ChartReleaseNamespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatalf("chart values %v: %v", values, err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatalf("render chart with %v: %v", values, err)
	}
	var out ChartWebhooks
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if path.Ext(name) != ".yaml" {
			continue
		}
		for _, doc := range strings.Split(files[name], "\n---") {
			var head struct{ Kind string }
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var into any
			switch head.Kind {
			case "ValidatingWebhookConfiguration":
				out.Validating = &admissionregistrationv1.ValidatingWebhookConfiguration{}
				into = out.Validating
			case "MutatingWebhookConfiguration":
				out.Mutating = &admissionregistrationv1.MutatingWebhookConfiguration{}
				into = out.Mutating
			default:
				continue
			}
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
		}
	}
	return out
}

// RegisterChart renders the chart with values for a release whose serving
// certificate is w's (certificates.mode=provided, caBundle w.CABundle),
// points every webhook entry at w by URL instead of the chart's Service
// (keeping the rendered path and caBundle), and creates both configurations.
// Everything else the API server uses (rules, namespaceSelectors,
// matchConditions, failurePolicy, timeouts) is the chart's. The returned
// function deletes the configurations; it also runs when the test ends.
func RegisterChart(t testing.TB, c client.Client, w *Webhook, values map[string]any) (ChartWebhooks, func()) {
	t.Helper()
	vals := mergeValues(values, map[string]any{
		"certificates": map[string]any{
			"mode": "provided",
			"provided": map[string]any{
				"secretName": chartServingSecret,
				"caBundle":   string(w.CABundle),
			},
		},
	})
	rendered := RenderChartWebhooks(t, vals)
	point := func(name string, cc *admissionregistrationv1.WebhookClientConfig) {
		t.Helper()
		if cc.Service == nil || cc.Service.Path == nil {
			t.Fatalf("webhook %s: rendered clientConfig has no service path: %+v", name, cc)
		}
		if !bytes.Equal(cc.CABundle, w.CABundle) {
			t.Fatalf("webhook %s: rendered caBundle is not certificates.provided.caBundle", name)
		}
		*cc = admissionregistrationv1.WebhookClientConfig{
			URL:      ptr.To(w.URL(*cc.Service.Path)),
			CABundle: cc.CABundle,
		}
	}
	var objs []client.Object
	if v := rendered.Validating; v != nil {
		for i := range v.Webhooks {
			point(v.Webhooks[i].Name, &v.Webhooks[i].ClientConfig)
		}
		objs = append(objs, v)
	}
	if m := rendered.Mutating; m != nil {
		for i := range m.Webhooks {
			point(m.Webhooks[i].Name, &m.Webhooks[i].ClientConfig)
		}
		objs = append(objs, m)
	}
	ctx := context.Background()
	for _, obj := range objs {
		// Create a copy: the returned objects stay as rendered and pointed.
		if err := c.Create(ctx, obj.DeepCopyObject().(client.Object)); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}
	unregister := func() {
		for _, obj := range objs {
			del := obj.DeepCopyObject().(client.Object)
			// Delete so that a later registration on the same control plane
			// does not meet a webhook that has already stopped.
			if err := c.Delete(context.Background(), del); client.IgnoreNotFound(err) != nil {
				t.Errorf("delete %T %s: %v", obj, obj.GetName(), err)
			}
		}
	}
	t.Cleanup(unregister)
	return rendered, unregister
}

// mergeValues returns base with over merged in, recursively for maps; over
// wins. Neither argument is modified.
func mergeValues(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// WaitFor calls probe every 250 ms until it returns nil or timeout passes,
// and fails the test with probe's last error then. The API server picks up
// webhook configurations, and the webhook picks up namespaces and Ingresses,
// a moment after they are written, so tests probe with dry-run requests
// before the real one.
func WaitFor(t testing.TB, timeout time.Duration, what string, probe func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := probe()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not the case after %s: %v", what, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// String describes the rendered entries, for logs.
func (c ChartWebhooks) String() string {
	var names []string
	if c.Validating != nil {
		for _, w := range c.Validating.Webhooks {
			names = append(names, fmt.Sprintf("%s(%s)", w.Name, ptr.Deref(w.FailurePolicy, "")))
		}
	}
	if c.Mutating != nil {
		for _, w := range c.Mutating.Webhooks {
			names = append(names, fmt.Sprintf("%s(%s)", w.Name, ptr.Deref(w.FailurePolicy, "")))
		}
	}
	return strings.Join(names, " ")
}
