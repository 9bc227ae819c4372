package harness

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Names of the webhook configurations that RegisterWebhooks and
// RegisterChart create (the chart's fullname for ChartReleaseName), and of
// the entries that review Ingresses and ConfigMaps in namespaces labelled
// istio-injection=enabled; the API server quotes the entry name in denial
// messages.
const (
	ValidatingConfigName = "meshguard"
	MutatingConfigName   = "meshguard"
	ValidatingWebhook    = "injection.ingress.validate.meshguard.dev"
	MutatingWebhook      = "injection.configmap.mutate.meshguard.dev"
)

// RegisterWebhooks points the chart's ValidatingWebhookConfiguration and
// MutatingWebhookConfiguration at w, with every entry's failurePolicy set to
// policy (except namespace-joins-mesh, which the chart always lets fail
// open), and removes them when the test ends. See RegisterChart.
func RegisterWebhooks(t testing.TB, c client.Client, w *Webhook, policy admissionregistrationv1.FailurePolicyType) {
	t.Helper()
	RegisterChart(t, c, w, map[string]any{"failurePolicy": string(policy)})
}
