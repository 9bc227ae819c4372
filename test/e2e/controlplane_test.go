package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// TestControlPlane checks the harness itself: the source-built control plane
// starts, the Istio CRDs are served in every version, and meshed namespaces
// can be created. It needs no webhook.
func TestControlPlane(t *testing.T) {
	cp := harness.StartControlPlane(t)
	ctx := context.Background()

	ns := createMeshedNamespace(t, cp.Client, "meshed")
	var got corev1.Namespace
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: ns}, &got); err != nil {
		t.Fatalf("get namespace: %v", err)
	}
	if got.Labels["istio-injection"] != "enabled" {
		t.Errorf("namespace labels = %v, want istio-injection=enabled", got.Labels)
	}

	// Istio serves all three versions from one storage version, and
	// clients still write every one of them.
	for _, version := range []string{"v1", "v1beta1", "v1alpha3"} {
		t.Run("ServiceEntry/"+version, func(t *testing.T) {
			se := serviceEntry(version, ns, "external-"+version, "api-"+version+".example.com")
			if err := cp.Client.Create(ctx, se); err != nil {
				t.Fatalf("create: %v", err)
			}
			back := &unstructured.Unstructured{}
			back.SetGroupVersionKind(se.GroupVersionKind())
			if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(se), back); err != nil {
				t.Fatalf("get: %v", err)
			}
			hosts, _, err := unstructured.NestedStringSlice(back.Object, "spec", "hosts")
			if err != nil || len(hosts) != 1 || hosts[0] != "api-"+version+".example.com" {
				t.Errorf("spec.hosts = %v (err %v), want [api-%s.example.com]", hosts, err, version)
			}
			if back.GetAPIVersion() != "networking.istio.io/"+version {
				t.Errorf("apiVersion = %q, want networking.istio.io/%s", back.GetAPIVersion(), version)
			}
		})
	}
}

// createMeshedNamespace creates a namespace with sidecar injection enabled
// and returns its generated name.
func createMeshedNamespace(t *testing.T, c client.Client, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: prefix + "-",
		Labels:       map[string]string{"istio-injection": "enabled"},
	}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// serviceEntry returns an external-service ServiceEntry in the given
// networking.istio.io version.
func serviceEntry(version, namespace, name, host string) *unstructured.Unstructured {
	se := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec": map[string]any{
			"hosts":      []any{host},
			"location":   "MESH_EXTERNAL",
			"resolution": "DNS",
			"ports": []any{map[string]any{
				"number": int64(443), "name": "https", "protocol": "TLS",
			}},
		},
	}}
	se.SetGroupVersionKind(schema.GroupVersionKind{
		Group: "networking.istio.io", Version: version, Kind: "ServiceEntry",
	})
	return se
}
