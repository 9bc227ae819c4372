package harness

import (
	"bytes"
	"context"
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
	"sigs.k8s.io/controller-runtime/pkg/client"

	core "github.com/meshguard/meshguard/internal/harness"
)

// Release the chart is rendered as. The chart names both webhook
// configurations after its fullname, which for this release name is the
// release name itself.
const (
	ChartReleaseName      = core.ChartRelease
	ChartReleaseNamespace = core.ChartNamespace
	// chartServingSecret is the Secret named in certificates.provided; it
	// is rendered into the Deployment only, which the tests do not create.
	chartServingSecret = "meshguard-e2e-serving-cert"
)

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
	out, err := core.ParseChartWebhooks([]byte(strings.Join(RenderChartDocs(t, values), "\n---\n")))
	if err != nil {
		t.Fatalf("render chart with %v: %v", values, err)
	}
	return out
}

// RenderChartDocs renders the chart as RenderChartWebhooks does and returns
// every manifest file's text, in file name order.
func RenderChartDocs(t testing.TB, values map[string]any) []string {
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
	var docs []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if path.Ext(name) == ".yaml" {
			docs = append(docs, files[name])
		}
	}
	return docs
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
	var bundles [][]byte
	if v := rendered.Validating; v != nil {
		for _, e := range v.Webhooks {
			bundles = append(bundles, e.ClientConfig.CABundle)
		}
	}
	if m := rendered.Mutating; m != nil {
		for _, e := range m.Webhooks {
			bundles = append(bundles, e.ClientConfig.CABundle)
		}
	}
	for _, b := range bundles {
		if !bytes.Equal(b, w.CABundle) {
			t.Fatal("a rendered caBundle is not certificates.provided.caBundle")
		}
	}
	if err := rendered.PointAt(w); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rendered.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	unregister := func() {
		// Delete so that a later registration on the same control plane
		// does not meet a webhook that has already stopped.
		if err := rendered.Delete(context.Background(), c); err != nil {
			t.Error(err)
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
