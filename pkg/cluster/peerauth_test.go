package cluster_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/internal/testenv"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
)

// TestPeerAuthenticationsAgainstTheAPIServer reads PeerAuthentications as
// the server does when their CRD was not installed at its start: the cache
// has no informer for them (and fails rather than start one), so the API
// server answers; without the CRD there are none, which is no error.
func TestPeerAuthenticationsAgainstTheAPIServer(t *testing.T) {
	cfg, c := testenv.Start(t, "PeerAuthentications read through the API fallback")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme.Scheme, ReaderFailOnMissingInformer: true})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	api, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	r := cluster.Reader{Cache: informers, API: api}

	if pas, err := r.PeerAuthentications(ctx, "shop", "istio-system"); err != nil || pas != nil {
		t.Fatalf("without the CRD: %v, %v; want none and no error", pas, err)
	}

	preserve := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "peerauthentications.security.istio.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "security.istio.io", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "peerauthentications", Singular: "peerauthentication", Kind: "PeerAuthentication", ListKind: "PeerAuthenticationList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &preserve}}}},
		},
	}
	if err := apiextensionsv1.AddToScheme(c.Scheme()); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, crd); err != nil {
		t.Fatal(err)
	}
	pa := cluster.PeerAuthentication().(*unstructured.Unstructured)
	pa.SetNamespace("istio-system")
	pa.SetName("default")
	pa.Object["spec"] = map[string]any{"mtls": map[string]any{"mode": "STRICT"}}
	web := cluster.PeerAuthentication().(*unstructured.Unstructured)
	web.SetNamespace("shop")
	web.SetName("web")
	web.Object["spec"] = map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
		"mtls": map[string]any{"mode": "STRICT"}, "portLevelMtls": map[string]any{"8081": map[string]any{"mode": "DISABLE"}}}
	for _, ns := range []string{"istio-system", "shop"} {
		if err := c.Create(ctx, namespaceObject(ns)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Discovery learns the new kind a moment after the CRD is established.
		errA, errB := c.Create(ctx, pa.DeepCopy()), c.Create(ctx, web.DeepCopy())
		if errA == nil && errB == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("creating PeerAuthentications: %v, %v", errA, errB)
		}
		_ = c.Delete(ctx, pa.DeepCopy())
		_ = c.Delete(ctx, web.DeepCopy())
		time.Sleep(200 * time.Millisecond)
	}
	var pas []mesh.PeerAuthentication
	for time.Now().Before(deadline) {
		if pas, err = r.PeerAuthentications(ctx, "shop", "istio-system"); err == nil && len(pas) == 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(pas) != 2 {
		t.Fatalf("read %+v (%v), want both PeerAuthentications", pas, err)
	}
	labels := map[string]string{"app": "web"}
	if got := mesh.InboundMTLS(pas, "shop", "istio-system", labels, 8080); got.Mode != mesh.MTLSStrict || got.From != "shop/web" {
		t.Errorf("port 8080: %+v, want STRICT from shop/web", got)
	}
	if got := mesh.InboundMTLS(pas, "shop", "istio-system", labels, 8081); got.Mode != mesh.MTLSDisable {
		t.Errorf("port 8081: %+v, want the port-level DISABLE", got)
	}
	if got := mesh.InboundMTLS(pas, "shop", "istio-system", map[string]string{"app": "db"}, 8080); got.From != "istio-system/default" {
		t.Errorf("another workload: %+v, want the mesh-wide policy", got)
	}
}

func namespaceObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
