package harness

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Names of the webhook configurations and webhooks that RegisterWebhooks
// creates; the API server quotes the webhook name in denial messages.
const (
	ValidatingConfigName = "meshguard"
	MutatingConfigName   = "meshguard"
	ValidatingWebhook    = "validate.meshguard.io"
	MutatingWebhook      = "mutate.meshguard.io"
)

// webhookTimeoutSeconds keeps a hung webhook from stalling a test for the
// API server's 10 s default.
const webhookTimeoutSeconds = 3

// RegisterWebhooks points a ValidatingWebhookConfiguration and a
// MutatingWebhookConfiguration at w and removes them when the test ends.
//
// The rules mirror what the Helm chart will install; until the chart renders
// them, they are written out here.
func RegisterWebhooks(t testing.TB, c client.Client, w *Webhook, policy admissionregistrationv1.FailurePolicyType) {
	t.Helper()
	ctx := context.Background()
	sideEffects := admissionregistrationv1.SideEffectClassNone
	// Cluster add-ons run in kube-system; a webhook outage must never block
	// the components needed to recover from it.
	notKubeSystem := &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key:      "kubernetes.io/metadata.name",
			Operator: metav1.LabelSelectorOpNotIn,
			Values:   []string{"kube-system"},
		}},
	}
	createUpdate := []admissionregistrationv1.OperationType{
		admissionregistrationv1.Create, admissionregistrationv1.Update,
	}
	rule := func(group string, versions []string, resource string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{
			Operations: createUpdate,
			Rule: admissionregistrationv1.Rule{
				APIGroups:   []string{group},
				APIVersions: versions,
				Resources:   []string{resource},
			},
		}
	}

	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ValidatingConfigName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: ValidatingWebhook,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL:      ptr.To(w.URL("/validate")),
				CABundle: w.CABundle,
			},
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule("networking.k8s.io", []string{"v1"}, "ingresses"),
				rule("", []string{"v1"}, "namespaces"),
			},
			FailurePolicy:           ptr.To(policy),
			NamespaceSelector:       notKubeSystem,
			SideEffects:             &sideEffects,
			TimeoutSeconds:          ptr.To[int32](webhookTimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: MutatingConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: MutatingWebhook,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL:      ptr.To(w.URL("/mutate")),
				CABundle: w.CABundle,
			},
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule("", []string{"v1"}, "configmaps"),
				rule("networking.istio.io", []string{"v1", "v1beta1", "v1alpha3"}, "serviceentries"),
			},
			FailurePolicy:           ptr.To(policy),
			NamespaceSelector:       notKubeSystem,
			SideEffects:             &sideEffects,
			TimeoutSeconds:          ptr.To[int32](webhookTimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}

	for _, obj := range []client.Object{validating, mutating} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
		t.Cleanup(func() {
			// Delete so that a later test on the same control plane does not
			// call a webhook that has already stopped.
			if err := c.Delete(context.Background(), obj); client.IgnoreNotFound(err) != nil {
				t.Errorf("delete %T %s: %v", obj, obj.GetName(), err)
			}
		})
	}
}
