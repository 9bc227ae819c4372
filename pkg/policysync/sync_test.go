package policysync

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/meshguard/meshguard/internal/testenv"
)

// policy is a ValidatingAdmissionPolicy on Ingresses with one expression.
func policy(name, expr string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"failurePolicy": "Fail",
			"matchConstraints": map[string]any{"resourceRules": []any{map[string]any{
				"apiGroups": []any{"networking.k8s.io"}, "apiVersions": []any{"v1"},
				"resources": []any{"ingresses"}, "operations": []any{"CREATE", "UPDATE"},
			}}},
			"validations": []any{map[string]any{"expression": expr, "message": "no"}},
		},
	}}
}

func binding(name, policyName string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"policyName": policyName, "validationActions": []any{"Deny"}},
	}}
}

func params(ns string, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "meshguard-policy-params", "namespace": ns},
		"data":     data,
	}}
}

// TestSyncOnAPIServer: the sync writes the policies with labels and owner,
// puts back an edit, prunes what is no longer wanted, leaves others'
// objects alone, and reports a policy whose expression does not type-check.
func TestSyncOnAPIServer(t *testing.T) {
	_, c := testenv.Start(t, "the compiled policy sync")
	ctx := context.Background()
	owner := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "meshguard"}}
	if err := c.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	stranger := policy("someone-else", "true")
	stranger.SetLabels(map[string]string{ManagedByLabel: ManagedBy, OwnerLabel: "other-release"})
	if err := c.Create(ctx, stranger); err != nil {
		t.Fatal(err)
	}

	want := []*unstructured.Unstructured{
		binding("meshguard-ingress", "meshguard-ingress"),
		policy("meshguard-ingress", "object.metadata.name != 'forbidden'"),
		params("default", map[string]any{"classes": "istio"}),
	}
	s := newSyncer(c, c, Options{Owner: "meshguard", Build: func(context.Context) ([]*unstructured.Unstructured, error) { return want, nil }, Log: logr.Discard()})
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingAdmissionPolicy"))
	if err := c.Get(ctx, client.ObjectKey{Name: "meshguard-ingress"}, got); err != nil {
		t.Fatal(err)
	}
	if got.GetLabels()[ManagedByLabel] != ManagedBy || got.GetLabels()[OwnerLabel] != "meshguard" {
		t.Errorf("labels %v", got.GetLabels())
	}
	if refs := got.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != owner.UID || refs[0].Kind != "ValidatingWebhookConfiguration" {
		t.Errorf("owner references %+v, want the ValidatingWebhookConfiguration", refs)
	}
	rv := got.GetResourceVersion()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "meshguard-ingress"}, got); err != nil {
		t.Fatal(err)
	}
	if got.GetResourceVersion() != rv {
		t.Errorf("a second pass with nothing to change wrote the policy (resourceVersion %s -> %s): every pass would wake every watcher", rv, got.GetResourceVersion())
	}

	// Someone edits the policy: the next pass puts it back.
	if err := unstructured.SetNestedSlice(got.Object, []any{map[string]any{"expression": "true", "message": "edited"}}, "spec", "validations"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "meshguard-ingress"}, got); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedSlice(got.Object, "spec", "validations"); len(v) != 1 || !strings.Contains(v[0].(map[string]any)["expression"].(string), "forbidden") {
		t.Errorf("the edit was not reverted: %v", v)
	}

	// A rule handed back to the webhook: its policy and binding go, the
	// stranger's stays.
	want = want[2:]
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "meshguard-ingress"}, got); !apierrors.IsNotFound(err) {
		t.Errorf("the unwanted policy is still there: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "someone-else"}, got); err != nil {
		t.Errorf("another owner's policy was pruned: %v", err)
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "meshguard-policy-params"}, cm); err != nil || cm.Data["classes"] != "istio" {
		t.Errorf("params: %v %v", cm.Data, err)
	}

	// An expression that does not compile is refused by the API server:
	// the pass fails naming the policy, and readiness fails with it.
	want = append(want, policy("meshguard-bad", "object.metadata.name =="))
	err := s.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy meshguard-bad") {
		t.Fatalf("want the refused policy named, got %v", err)
	}
	s.pass(ctx)
	s.mu.Lock()
	s.leading = true
	s.mu.Unlock()
	if err := s.Check(nil); err == nil {
		t.Error("readiness passes while the last pass failed")
	}
	if v := testutil.ToFloat64(s.ready.WithLabelValues("ValidatingAdmissionPolicy", "meshguard-bad")); v != 0 {
		t.Errorf("meshguard_compiled_policy_ready for the refused policy = %v, want 0", v)
	}
	if v := testutil.ToFloat64(s.passes.WithLabelValues("error")); v != 1 {
		t.Errorf("meshguard_compiled_policy_syncs_total{result=error} = %v, want 1", v)
	}
}

// TestVerifyReportsTypeCheckWarnings: the warnings kube-controller-manager
// writes into a policy's status.typeChecking (no controller manager runs
// in the tests' control plane, so the status is given here) fail the pass.
func TestVerifyReportsTypeCheckWarnings(t *testing.T) {
	p := policy("meshguard-ingress", "object.spec.noSuchField == 'x'")
	p.Object["status"] = map[string]any{"typeChecking": map[string]any{"expressionWarnings": []any{
		map[string]any{"fieldRef": "spec.validations[0].expression", "warning": "undefined field 'noSuchField'"},
	}}}
	c := fake.NewClientBuilder().WithObjects(p).Build()
	s := newSyncer(c, c, Options{Owner: "meshguard", Log: logr.Discard()})
	err := s.verify(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "spec.validations[0].expression: undefined field 'noSuchField'") {
		t.Errorf("got %v", err)
	}
	delete(p.Object, "status")
	c = fake.NewClientBuilder().WithObjects(p).Build()
	s = newSyncer(c, c, Options{Owner: "meshguard", Log: logr.Discard()})
	if err := s.verify(context.Background(), p); err != nil {
		t.Errorf("a policy without warnings: %v", err)
	}
}

// TestSyncWithoutOwner fails, and readiness says why, when the owning
// configuration is missing: objects without an owner would outlive an
// uninstall.
func TestSyncWithoutOwner(t *testing.T) {
	_, c := testenv.Start(t, "the compiled policy sync")
	s := newSyncer(c, c, Options{Owner: "missing", Build: func(context.Context) ([]*unstructured.Unstructured, error) { return nil, nil }, Log: logr.Discard()})
	if err := s.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "ValidatingWebhookConfiguration missing") {
		t.Errorf("got %v", err)
	}
}
