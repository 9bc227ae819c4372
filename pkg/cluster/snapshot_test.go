package cluster_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/pkg/cluster"
)

func TestSnapshotServesTheRulesLookups(t *testing.T) {
	ctx := context.Background()
	snap := &cluster.Snapshot{
		Namespaces: map[string]map[string]string{"shop": {"istio-injection": "enabled"}},
		IngressClasses: map[string]*networkingv1.IngressClass{
			"nginx": {ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}},
		},
		Ingresses: map[string][]networkingv1.Ingress{"shop": {{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}}},
	}
	r := cluster.Reader{Cache: snap}

	labels, err := r.NamespaceLabels(ctx, "shop")
	if err != nil || labels["istio-injection"] != "enabled" {
		t.Errorf("NamespaceLabels(shop) = %v, %v", labels, err)
	}
	labels["istio-injection"] = "disabled" // a reader's copy, not the snapshot
	if again, _ := r.NamespaceLabels(ctx, "shop"); again["istio-injection"] != "enabled" {
		t.Errorf("a caller changed the snapshot: %v", again)
	}
	if _, err := r.NamespaceLabels(ctx, "nowhere"); !apierrors.IsNotFound(err) {
		t.Errorf("NamespaceLabels(nowhere) error %v, want not found", err)
	}

	if c, found, err := r.IngressClassController(ctx, "nginx"); c != "k8s.io/ingress-nginx" || !found || err != nil {
		t.Errorf("IngressClassController(nginx) = %q, %v, %v", c, found, err)
	}
	if _, found, err := r.IngressClassController(ctx, "gone"); found || err != nil {
		t.Errorf("IngressClassController(gone) = %v, %v, want a missing class", found, err)
	}

	if ings, err := r.Ingresses(ctx, "shop"); len(ings) != 1 || ings[0].Name != "web" || err != nil {
		t.Errorf("Ingresses(shop) = %v, %v", ings, err)
	}
	if ings, err := r.Ingresses(ctx, "empty"); len(ings) != 0 || err != nil {
		t.Errorf("Ingresses(empty) = %v, %v", ings, err)
	}
}

func TestSnapshotRefusesOtherLookups(t *testing.T) {
	ctx := context.Background()
	snap := &cluster.Snapshot{}
	for name, err := range map[string]error{
		"a Secret":                     snap.Get(ctx, client.ObjectKey{Namespace: "a", Name: "s"}, &corev1.Secret{}),
		"a full Namespace":             snap.Get(ctx, client.ObjectKey{Name: "a"}, &corev1.Namespace{}),
		"Ingresses of every namespace": snap.List(ctx, &networkingv1.IngressList{}),
		"ConfigMaps":                   snap.List(ctx, &corev1.ConfigMapList{}, client.InNamespace("a")),
	} {
		if err == nil || apierrors.IsNotFound(err) {
			t.Errorf("%s: error %v, want a refusal, not an answer", name, err)
		}
	}
}
