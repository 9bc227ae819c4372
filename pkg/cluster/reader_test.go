package cluster_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/internal/testenv"
	"github.com/meshguard/meshguard/pkg/cluster"
)

// TestReaderAgainstTheAPIServer reads through an informer cache that, like a
// cache that has not caught up yet, does not hold everything: objects
// labelled cached=yes are in it, others are only on the API server. A hit
// comes from the cache, a miss falls back to the API server, and what
// neither has is "not found" (a missing IngressClass) or an error naming
// the object (a missing namespace), never a guess.
func TestReaderAgainstTheAPIServer(t *testing.T) {
	cfg, c := testenv.Start(t, "pkg/cluster's cache and its API fallback")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cached := labels.SelectorFromSet(labels.Set{"cached": "yes"})
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(cluster.NamespaceGVK)
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme.Scheme, ByObject: map[client.Object]cache.ByObject{
		ns:                           {Label: cached},
		&networkingv1.IngressClass{}: {Label: cached},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{ns, &networkingv1.IngressClass{}, &networkingv1.Ingress{}} {
		if _, err := informers.GetInformer(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	api, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	withFallback := cluster.Reader{Cache: informers, API: api}
	cacheOnly := cluster.Reader{Cache: informers}

	mustCreate := func(obj client.Object) {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	meshed := map[string]string{"cached": "yes", "istio-injection": "enabled"}
	mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "in-cache", Labels: meshed}})
	mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "api-only", Labels: map[string]string{"istio.io/rev": "canary"}}})
	mustCreate(&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "istio", Labels: map[string]string{"cached": "yes"}},
		Spec: networkingv1.IngressClassSpec{Controller: "istio.io/ingress-controller"}})
	mustCreate(&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}})
	mustCreate(&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "in-cache"},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}})
	eventually(t, "the cache sees the cached objects", func() bool {
		l, err := cacheOnly.NamespaceLabels(ctx, "in-cache")
		_, found, cerr := cacheOnly.IngressClassController(ctx, "istio")
		ings, ierr := cacheOnly.Ingresses(ctx, "in-cache")
		return err == nil && l["istio-injection"] == "enabled" && cerr == nil && found && ierr == nil && len(ings) == 1
	})

	t.Run("a cache hit", func(t *testing.T) {
		// The API server adds kubernetes.io/metadata.name to every namespace.
		want := maps.Clone(meshed)
		want["kubernetes.io/metadata.name"] = "in-cache"
		if l, err := withFallback.NamespaceLabels(ctx, "in-cache"); err != nil || !maps.Equal(l, want) {
			t.Errorf("labels %v, %v; want %v", l, err, want)
		}
		if ctrl, found, err := withFallback.IngressClassController(ctx, "istio"); err != nil || !found || ctrl != "istio.io/ingress-controller" {
			t.Errorf("IngressClass istio: %q %v %v", ctrl, found, err)
		}
		if ings, err := withFallback.Ingresses(ctx, "in-cache"); err != nil || len(ings) != 1 || ings[0].Name != "web" {
			t.Errorf("Ingresses: %v, %v", ings, err)
		}
	})
	t.Run("a miss falls back to the API server", func(t *testing.T) {
		if _, err := cacheOnly.NamespaceLabels(ctx, "api-only"); !apierrors.IsNotFound(errorsCause(err)) {
			t.Fatalf("the cache alone has namespace api-only (%v): the test would not show a fallback", err)
		}
		if l, err := withFallback.NamespaceLabels(ctx, "api-only"); err != nil || l["istio.io/rev"] != "canary" {
			t.Errorf("labels %v, %v", l, err)
		}
		if ctrl, found, err := withFallback.IngressClassController(ctx, "nginx"); err != nil || !found || ctrl != "k8s.io/ingress-nginx" {
			t.Errorf("IngressClass nginx: %q %v %v", ctrl, found, err)
		}
	})
	t.Run("what neither has", func(t *testing.T) {
		_, err := withFallback.NamespaceLabels(ctx, "nowhere")
		if !apierrors.IsNotFound(errorsCause(err)) || !strings.Contains(err.Error(), `reading namespace "nowhere"`) {
			t.Errorf("missing namespace: %v, want a not-found error naming it", err)
		}
		if ctrl, found, err := withFallback.IngressClassController(ctx, "nowhere"); err != nil || found || ctrl != "" {
			t.Errorf("missing IngressClass: %q %v %v, want not found without an error", ctrl, found, err)
		}
		if ings, err := withFallback.Ingresses(ctx, "api-only"); err != nil || len(ings) != 0 {
			t.Errorf("Ingresses of a namespace without any: %v, %v", ings, err)
		}
	})
}

// errorsCause unwraps the reader's "reading …: %w" to the API error.
func errorsCause(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
