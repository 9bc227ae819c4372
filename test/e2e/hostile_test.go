package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// chartMemoryLimit is the chart's default container memory limit, which the
// chart hands to the process through the downward API.
const chartMemoryLimit = 256 << 20

// TestHostileConfigMapsThroughTheAPIServer writes, through a real
// kube-apiserver and the chart's own webhook configurations in enforce mode
// (failurePolicy Fail, timeoutSeconds 3), the ConfigMaps that used to run the
// webhook past the API server's timeout: a config of about 1 MiB without a
// newline and one of 20,000 keys. Each write must succeed (mutated, or left
// as written with a warning saying why), never fail with a webhook timeout,
// and the webhook's memory must stay under the chart's limit throughout.
func TestHostileConfigMapsThroughTheAPIServer(t *testing.T) {
	requireWebhook(t)
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	wh := harness.StartWebhook(t, bin, harness.WebhookOptions{
		Kubeconfig: cp.Kubeconfig,
		Mode:       "enforce",
		ExtraArgs:  []string{"--shutdown-delay=0s", "--log-level=info"},
		Env:        []string{fmt.Sprintf("MEMORY_LIMIT=%d", chartMemoryLimit)},
	})
	harness.RegisterChart(t, cp.Client, wh, map[string]any{"mode": "enforce"})
	waitForMode(t, cp, "enforce")
	ns := createNamespace(t, cp.Client, "hostile", meshed)
	unit := "server{location /{proxy_pass http://b;}}"

	cases := map[string]struct {
		data map[string]string
		// patched: the stored value must carry the fix; otherwise it must be
		// stored as written with a warning that says it was left unchanged.
		patched bool
	}{
		"a 600 KiB config on one line is patched": {
			data: map[string]string{"default.conf": strings.Repeat(unit, 600<<10/len(unit))}, patched: true},
		"a 1 MiB config on one line, which the change would take past the API server's limit, is stored as written": {
			data: map[string]string{"default.conf": strings.Repeat(unit, (1<<20-100)/len(unit))}},
		"20,000 keys, which the change would take past the limit, are stored as written": {
			data: manyKeys(20_000, unit)},
		"15,000 small keys are patched": {
			data: manyKeys(15_000, "location /{proxy_pass http://b;}"), patched: true},
	}
	i := 0
	for name, tc := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			c, rec := warningClient(t, cp.Config)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("hostile-%d", i), Namespace: ns}, Data: tc.data}
			start := time.Now()
			if err := c.Create(context.Background(), cm); err != nil {
				t.Fatalf("create after %s: %.500v", time.Since(start), err)
			}
			warned := meshguardWarnings(rec.Take())
			t.Logf("created in %s with %d meshguard warnings", time.Since(start).Round(time.Millisecond), len(warned))
			stored := &corev1.ConfigMap{}
			if err := cp.Client.Get(context.Background(), client.ObjectKeyFromObject(cm), stored); err != nil {
				t.Fatal(err)
			}
			fixed := 0
			for _, v := range stored.Data {
				fixed += strings.Count(v, "proxy_http_version 1.1;")
			}
			switch {
			case tc.patched && fixed == 0:
				t.Errorf("stored without proxy_http_version 1.1; warnings %.300q", warned)
			case !tc.patched && (fixed != 0 || len(harness.Containing(warned, "was left unchanged")) == 0):
				t.Errorf("stored with %d fixes and warnings %.300q, want it as written with a warning saying so", fixed, warned)
			}
			if len(warned) > 16 {
				t.Errorf("%d warnings, want at most 16", len(warned))
			}
		})
	}
	m, err := wh.Memory()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("webhook memory: RSS %d MiB, peak %d MiB", m.RSS>>20, m.Peak>>20)
	if m.Peak >= chartMemoryLimit {
		t.Errorf("webhook peak RSS %d MiB reached the chart's limit of %d MiB", m.Peak>>20, chartMemoryLimit>>20)
	}
}

// manyKeys returns n keys each holding value.
func manyKeys(n int, value string) map[string]string {
	data := make(map[string]string, n)
	for i := range n {
		data[fmt.Sprintf("site%05d.conf", i)] = value
	}
	return data
}
