// Package hostile sends the webhook what a namespace user could send it to
// take it down, as the chart runs it (the same flags and the memory limit
// handed in through the downward API), over loopback HTTPS. Every case
// asserts the failure contract (a decision is HTTP 200; anything else is an
// HTTP error status so failurePolicy decides; never allowed=false for what
// is not a denial), an answer well within the API server's timeout, and, at
// the end, that the process's peak resident memory stayed under the chart's
// limit. Exact costs are measured by benchmarks, not here: every time bound
// below leaves at least 5× headroom.
package hostile

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

const (
	// memoryLimit is the chart's default container memory limit (256Mi).
	memoryLimit = 256 << 20
	// budget is the review budget the chart gives (two thirds of its
	// timeoutSeconds of 3), and slowest the bound on any one answer.
	budget  = 2 * time.Second
	slowest = 5 * budget
	// ns is the meshed namespace the reviews name.
	ns = "hostile"
)

// fixture is one webhook process on one control plane, shared by the cases
// so that the peak memory checked at the end covers all of them.
type fixture struct {
	w *harness.Webhook
	p *poster
}

func start(t *testing.T) *fixture {
	t.Helper()
	if !harness.WebhookExists(t) {
		t.Skip("no cmd/webhook in this repository yet")
	}
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"istio-injection": "enabled"}}}
	if err := cp.Client.Create(context.Background(), nsObj); err != nil {
		t.Fatal(err)
	}
	w := harness.StartWebhook(t, bin, harness.WebhookOptions{
		Kubeconfig: cp.Kubeconfig,
		Mode:       "enforce",
		ExtraArgs:  []string{"--review-timeout=" + budget.String(), "--shutdown-delay=0s", "--log-level=info"},
		Env:        []string{fmt.Sprintf("MEMORY_LIMIT=%d", memoryLimit)},
	})
	return &fixture{w: w, p: newPoster(w)}
}

// TestHostileInput runs every case against one webhook process.
func TestHostileInput(t *testing.T) {
	f := start(t)
	t.Run("malformed reviews are 4xx, never a denial", f.malformed)
	t.Run("nginx shapes are answered within the budget", f.nginxShapes)
	t.Run("a ServiceEntry of 200,000 hosts", f.manyHosts)
	t.Run("TLS below 1.2 and CBC-SHA1 suites are refused", f.tlsFloor)
	t.Run("paths are served exactly, never redirected", f.exactPaths)
	t.Run("100 slow uploaders do not stop valid reviews", f.slowUploaders)
	t.Run("40 uploads stalled mid-body are cut", f.stalledUploads)
	t.Run("eight concurrent 1 MB ConfigMaps of 20,000 keys", f.concurrentKeys)
	t.Run("reviews the client abandons stop using CPU", f.abandoned)
	t.Run("the server still answers and stayed under the memory limit", f.stillHealthy)
}

// storyReview is a valid review that gets a real decision: the story's nginx
// ConfigMap, which the webhook patches.
func storyReview(t testing.TB) []byte {
	return review(t, "", "v1", "ConfigMap", ns, configMap(map[string]string{
		"default.conf": "server {\n    listen 80;\n    location / {\n        proxy_pass http://my-backend;\n    }\n}\n",
	}))
}

// checkStory asserts the answer to storyReview: allowed, with a patch.
func checkStory(t testing.TB, a answer) {
	t.Helper()
	if a.status != http.StatusOK || !a.allowed || len(a.patch) == 0 {
		t.Errorf("valid review: HTTP %d allowed=%v patch %d bytes %s", a.status, a.allowed, len(a.patch), a.message)
	}
}

func configMap(data map[string]string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "hostile", "namespace": ns}, "data": data}
}

// repeatTo repeats unit until the result holds at least n bytes.
func repeatTo(unit string, n int) string {
	return strings.Repeat(unit, (n+len(unit)-1)/len(unit))
}

// keys returns n keys each holding value.
func keys(n int, value string) map[string]string {
	data := make(map[string]string, n)
	for i := range n {
		data[fmt.Sprintf("k%05d.conf", i)] = value
	}
	return data
}

// decided asserts an answer that is either a decision that is not a denial
// (HTTP 200, allowed) or an HTTP error status, given within slowest, with at
// most 16 warnings.
func decided(t *testing.T, what string, a answer) {
	t.Helper()
	first := ""
	if len(a.warns) > 0 {
		first = a.warns[0]
	}
	t.Logf("%s: HTTP %d in %s, %d bytes, patch %d bytes, %d warnings: %.160q", what, a.status, a.took.Round(time.Millisecond), a.size, len(a.patch), len(a.warns), first)
	switch {
	case a.status == http.StatusOK && !a.allowed:
		t.Errorf("%s: denied (%s): a ConfigMap is never denied, and a failure must be an HTTP error", what, a.message)
	case a.status != http.StatusOK && a.status < 500:
		t.Errorf("%s: HTTP %d %s: a valid review is a decision, or an HTTP 5xx when it cannot be made", what, a.status, a.message)
	}
	if a.took > slowest {
		t.Errorf("%s: answered in %s, want well within the budget of %s", what, a.took, budget)
	}
	if len(a.warns) > 16 {
		t.Errorf("%s: %d warnings, want at most 16", what, len(a.warns))
	}
}

func (f *fixture) malformed(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":               "{not json",
		"not an AdmissionReview": `{"apiVersion":"v1","kind":"ConfigMap"}`,
		"no request":             `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		"an object that is not a ConfigMap": `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","operation":"CREATE","namespace":"hostile",` +
			`"kind":{"group":"","version":"v1","kind":"ConfigMap"},"object":{"data":5}}}`,
		"100,000 nested arrays": strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000),
	} {
		a := f.p.mustPost(t, "/mutate", []byte(body))
		if a.status < 400 || a.status >= 500 {
			t.Errorf("%s: HTTP %d %s, want 4xx", name, a.status, a.message)
		}
	}
}

// mib1 is just under the 1 MiB a ConfigMap's values may hold, so the
// webhook analyses it in full rather than leaving it to the API server to
// refuse.
const mib1 = 1000 << 10

func (f *fixture) nginxShapes(t *testing.T) {
	unit := "server{location /{proxy_pass http://b;}}"
	nest := "server{" + strings.Repeat("location /a{", 62) + "proxy_pass http://b;" + strings.Repeat("}", 63)
	for what, tc := range map[string]struct {
		data    map[string]string
		patched bool
	}{
		"a 3 MiB config on one line":                       {data: map[string]string{"default.conf": repeatTo(unit, 3<<20)}},
		"a 1000 KiB config on one line":                    {data: map[string]string{"default.conf": repeatTo(unit, mib1)}},
		"a 512 KiB config on one line":                     {data: map[string]string{"default.conf": repeatTo(unit, 512<<10)}, patched: true},
		"80,000 keys":                                      {data: keys(80_000, unit)},
		"24,000 keys":                                      {data: keys(24_000, unit)},
		"64 levels of nesting, repeated to 900 KiB":        {data: map[string]string{"default.conf": repeatTo(nest, 900<<10)}, patched: true},
		"an include bomb: 5,000 keys including all":        {data: keys(5000, "include k*.conf; server{location /{proxy_pass http://b;}}")},
		"a 1000 KiB upstream name":                         {data: map[string]string{"default.conf": "server{location /{proxy_pass http://" + strings.Repeat("b", mib1) + ";}}"}, patched: true},
		"a 1000 KiB comment and one proxy_pass":            {data: map[string]string{"default.conf": "#" + strings.Repeat("c", mib1) + "\nserver{location /{proxy_pass http://b;}}"}, patched: true},
		"locations each with an if and a pass to 1000 KiB": {data: map[string]string{"default.conf": "server{" + repeatTo("location /{if ($a){proxy_pass http://b;}}", mib1) + "}"}},
	} {
		body := review(t, "", "v1", "ConfigMap", ns, configMap(tc.data))
		a := f.p.mustPost(t, "/mutate", body)
		decided(t, fmt.Sprintf("%s (%d KiB)", what, len(body)>>10), a)
		if tc.patched && a.status == http.StatusOK && len(a.patch) == 0 {
			t.Errorf("%s: not patched; warnings %.300q", what, a.warns)
		}
	}
}

func (f *fixture) manyHosts(t *testing.T) {
	hosts := []string{"metadata.google.internal"}
	for i := range 200_000 {
		hosts = append(hosts, fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
	}
	se := map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
		"metadata": map[string]any{"name": "many", "namespace": ns},
		"spec":     map[string]any{"hosts": hosts, "location": "MESH_EXTERNAL", "resolution": "NONE"}}
	a := f.p.mustPost(t, "/mutate", review(t, "networking.istio.io", "v1", "ServiceEntry", ns, se))
	decided(t, "200,000 hosts", a)
	if a.status == http.StatusOK && len(a.patch) == 0 {
		t.Errorf("200,000 IP hosts and the metadata name: no patch, want the IPs moved to spec.addresses")
	}
	for _, w := range a.warns {
		if len(w) > 4200 {
			t.Errorf("a warning of %d bytes", len(w))
		}
	}
}
