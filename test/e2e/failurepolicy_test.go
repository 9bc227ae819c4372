package e2e

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// TestFailurePolicyWithWebhookDown registers the chart's configurations,
// checks the webhook answers, stops the webhook process, and writes: the
// chart's failurePolicy (audit → Ignore, enforce → Fail) decides what an
// outage blocks, while kube-system (excluded by namespaceSelector) and
// writes cut by rules or matchConditions never reach the webhook at all.
func TestFailurePolicyWithWebhookDown(t *testing.T) {
	requireWebhook(t)
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	ctx := context.Background()

	for _, mode := range []string{"audit", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			wh := harness.StartWebhook(t, bin, harness.WebhookOptions{
				Kubeconfig: cp.Kubeconfig,
				Mode:       mode,
				ExtraArgs:  []string{"--shutdown-delay=0s"},
			})
			rendered, _ := harness.RegisterChart(t, cp.Client, wh, map[string]any{"mode": mode})
			t.Logf("chart entries: %s", rendered)
			waitForMode(t, cp, mode)
			ns := createNamespace(t, cp.Client, "down-"+mode, meshed)
			harness.StopWebhook(t, wh)

			c := cp.Client
			// A fresh name per write: each must reach admission as a CREATE.
			named := func(obj client.Object, name string) client.Object {
				obj.SetName(name)
				return obj
			}
			ing := named(storyIngress(t, ns), "down-"+mode)
			err := c.Create(ctx, ing)
			if mode == "audit" {
				if err != nil {
					t.Errorf("Ingress in meshed namespace with the webhook down and failurePolicy Ignore: %v", err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), "failed calling webhook") ||
					!strings.Contains(err.Error(), "injection.ingress.validate.meshguard.dev") {
					t.Errorf("Ingress in meshed namespace with the webhook down and failurePolicy Fail: err = %v, want %q naming the entry",
						err, "failed calling webhook")
				} else {
					t.Logf("refused as expected: %v", err)
				}
				cm := named(storyConfigMap(t, ns), "nginx-down")
				if err := c.Create(ctx, cm); err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
					t.Errorf("nginx ConfigMap in meshed namespace with the webhook down: err = %v, want %q", err, "failed calling webhook")
				}
			}

			// Never reviewed, so never blocked by an outage, in any mode.
			allowed := map[string]client.Object{
				"the story's Ingress in kube-system": named(storyIngress(t, "kube-system"), "down-"+mode),
				"a Secret in the meshed namespace": &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns},
					StringData: map[string]string{"k": "v"},
				},
				"a ConfigMap without proxy_pass in the meshed namespace": &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns},
					Data:       map[string]string{"app.properties": "listen=8080\n"},
				},
			}
			for what, obj := range allowed {
				if err := c.Create(ctx, obj); err != nil {
					t.Errorf("%s with the webhook down: %v", what, err)
				}
			}

			// namespace-joins-mesh only warns, so the chart lets it fail open
			// in every mode.
			joins := createNamespace(t, c, "joins-down-"+mode, nil)
			nsObj := &corev1.Namespace{}
			if err := c.Get(ctx, client.ObjectKey{Name: joins}, nsObj); err != nil {
				t.Fatal(err)
			}
			nsObj.Labels["istio-injection"] = "enabled"
			if err := c.Update(ctx, nsObj); err != nil {
				t.Errorf("namespace joining the mesh with the webhook down: %v", err)
			}
		})
	}
}
