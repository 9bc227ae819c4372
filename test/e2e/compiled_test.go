package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// TestCompiledIngressInMeshOutlivesTheWebhook: with --compiled-rules the
// leader writes ingress-in-mesh as a ValidatingAdmissionPolicy and
// gce-metadata-address as a MutatingAdmissionPolicy, owned by the webhook
// configuration; once it is in place the webhook process is
// stopped, and the API server still denies the story's Ingress in a meshed
// namespace, with the webhook's message, and still admits it elsewhere; the
// story's ServiceEntry still gets the metadata IP declared; in
// audit mode it warns, with the webhook stopped as well.
func TestCompiledIngressInMeshOutlivesTheWebhook(t *testing.T) {
	requireWebhook(t)
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	ctx := context.Background()
	const owner, ns = "meshguard", "meshguard-system"
	for _, o := range []client.Object{
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: owner}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
	} {
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	meshed := createNamespace(t, cp.Client, "compiled-meshed", map[string]string{"istio-injection": "enabled"})
	plain := createNamespace(t, cp.Client, "compiled-plain", nil)

	wh := harness.StartWebhook(t, bin, harness.WebhookOptions{
		Kubeconfig: cp.Kubeconfig, Mode: "enforce",
		ExtraArgs: []string{"--audit-interval=0", "--compiled-rules=ingress-in-mesh,gce-metadata-address", "--compiled-policies-owner=" + owner},
		Env:       []string{"POD_NAMESPACE=" + ns},
	})
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	harness.WaitFor(t, 30*time.Second, "the compiled mutating policy is written", func() error {
		return cp.Client.Get(ctx, client.ObjectKey{Name: owner + "-gce-metadata-address"}, &admissionregistrationv1.MutatingAdmissionPolicy{})
	})
	harness.WaitFor(t, 30*time.Second, "the compiled policy and its parameters are written", func() error {
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: owner + "-ingress-in-mesh"}, policy); err != nil {
			return err
		}
		return cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: owner + "-policy-params"}, &corev1.ConfigMap{})
	})
	if refs := policy.OwnerReferences; len(refs) != 1 || refs[0].Name != owner || policy.Labels["app.kubernetes.io/managed-by"] != "meshguard" {
		t.Errorf("owner %+v, labels %v", refs, policy.Labels)
	}
	if m := auditMetrics(t, wh); !strings.Contains(m, `meshguard_compiled_policy_ready{kind="ValidatingAdmissionPolicy",name="meshguard-ingress-in-mesh"} 1`) {
		t.Errorf("/metrics does not report the policy ready:\n%s", m)
	}
	harness.StopWebhook(t, wh)

	var err error
	harness.WaitFor(t, 30*time.Second, "the API server denies the story's Ingress without the webhook", func() error {
		err = cp.Client.Create(ctx, storyIngress(t, meshed), client.DryRunAll)
		if err == nil {
			return errors.New("allowed")
		}
		return nil
	})
	for _, want := range []string{"ValidatingAdmissionPolicy 'meshguard-ingress-in-mesh'", `[ingress-in-mesh] Ingress "my-app" is not allowed in namespace "` + meshed + `"`, "kubectl meshguard convert -n " + meshed} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("denial lacks %q: %v", want, err)
		}
	}
	if err := cp.Client.Create(ctx, storyIngress(t, plain), client.DryRunAll); err != nil {
		t.Errorf("an Ingress outside the mesh is refused: %v", err)
	}
	// The story's ServiceEntry gets the metadata IP declared by the API
	// server's own MutatingAdmissionPolicy.
	harness.WaitFor(t, 30*time.Second, "the API server moves the metadata IP without the webhook", func() error {
		se := storyServiceEntry(t, meshed, "v1")
		if err := cp.Client.Create(ctx, se, client.DryRunAll); err != nil {
			return err
		}
		addrs, _, _ := unstructured.NestedStringSlice(se.Object, "spec", "addresses")
		hosts, _, _ := unstructured.NestedStringSlice(se.Object, "spec", "hosts")
		if !slices.Contains(addrs, "169.254.169.254") || slices.Contains(hosts, "169.254.169.254") {
			return fmt.Errorf("stored hosts %v, addresses %v", hosts, addrs)
		}
		return nil
	})

	// Audit mode: a new leader rewrites the binding to warn, and the
	// warning outlives the process too.
	wh = harness.StartWebhook(t, bin, harness.WebhookOptions{
		Kubeconfig: cp.Kubeconfig, Mode: "audit",
		ExtraArgs: []string{"--audit-interval=0", "--compiled-rules=ingress-in-mesh", "--compiled-policies-owner=" + owner},
		Env:       []string{"POD_NAMESPACE=" + ns},
	})
	harness.WaitFor(t, 30*time.Second, "the binding is rewritten for audit mode", func() error {
		b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: owner + "-ingress-in-mesh"}, b); err != nil {
			return err
		}
		if fmt.Sprint(b.Spec.ValidationActions) != "[Warn Audit]" {
			return fmt.Errorf("validationActions %v", b.Spec.ValidationActions)
		}
		return nil
	})
	harness.StopWebhook(t, wh)
	wc, warnings := warningClient(t, cp.Config)
	harness.WaitFor(t, 30*time.Second, "the API server warns about the story's Ingress without the webhook", func() error {
		if err := wc.Create(ctx, storyIngress(t, meshed), client.DryRunAll); err != nil {
			return err
		}
		for _, w := range warnings.Take() {
			if strings.Contains(w, `[ingress-in-mesh] (audit) would deny: Ingress "my-app" is not allowed`) {
				return nil
			}
		}
		return errors.New("no audit warning yet")
	})
}
