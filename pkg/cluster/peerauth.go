package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/pkg/mesh"
)

// PeerAuthenticationGVK is the Istio PeerAuthentication version read: the
// cache holds them whole (they are few: a handful per namespace at most).
var PeerAuthenticationGVK = schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "PeerAuthentication"}

// PeerAuthentication returns an empty PeerAuthentication for the cache.
func PeerAuthentication() client.Object {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(PeerAuthenticationGVK)
	return u
}

// PeerAuthentications lists the PeerAuthentications of the given
// namespaces. The cache serves them when the server registered their
// informer (the CRD existed at start); otherwise the API server does, and a
// cluster without Istio's security CRDs has none.
func (r Reader) PeerAuthentications(ctx context.Context, namespaces ...string) ([]mesh.PeerAuthentication, error) {
	var out []mesh.PeerAuthentication
	for _, ns := range namespaces {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(PeerAuthenticationGVK.GroupVersion().WithKind("PeerAuthenticationList"))
		err := r.Cache.List(ctx, list, client.InNamespace(ns))
		var notCached *cache.ErrResourceNotCached
		if errors.As(err, &notCached) && r.API != nil {
			err = r.API.List(ctx, list, client.InNamespace(ns))
		}
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing PeerAuthentications in namespace %q: %w", ns, err)
		}
		for i := range list.Items {
			out = append(out, peerAuthentication(&list.Items[i]))
		}
	}
	return out, nil
}

// peerAuthentication reads the fields mTLS depends on; a malformed field
// reads as unset, as istiod would not apply it either.
func peerAuthentication(u *unstructured.Unstructured) mesh.PeerAuthentication {
	pa := mesh.PeerAuthentication{Namespace: u.GetNamespace(), Name: u.GetName(), Created: u.GetCreationTimestamp().Time}
	if sel, found, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels"); found && len(sel) > 0 {
		pa.Selector = sel
	}
	pa.Mode, _, _ = unstructured.NestedString(u.Object, "spec", "mtls", "mode")
	ports, _, _ := unstructured.NestedMap(u.Object, "spec", "portLevelMtls")
	for p, v := range ports {
		n, err := strconv.ParseUint(p, 10, 32)
		m, ok := v.(map[string]any)
		if err != nil || !ok {
			continue
		}
		if mode, ok := m["mode"].(string); ok {
			if pa.Ports == nil {
				pa.Ports = map[uint32]string{}
			}
			pa.Ports[uint32(n)] = mode
		}
	}
	return pa
}
