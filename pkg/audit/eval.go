package audit

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/pkg/admit"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
)

// The kinds the audit evaluates; kindNamespace stands for "every object of
// this namespace", queued when a namespace's labels change.
const (
	kindIngress      = "Ingress"
	kindConfigMap    = "ConfigMap"
	kindServiceEntry = "ServiceEntry"
	kindNamespace    = "Namespace"
)

// evaluator turns one object, read from the cluster, into findings.
type evaluator struct {
	// cache is the informer cache: Ingresses as objects, ConfigMaps and
	// ServiceEntries as metadata only.
	cache client.Reader
	// api reads what the cache does not hold: a ConfigMap's data, a
	// ServiceEntry's spec.
	api        client.Reader
	namespaces cluster.Reader
	mesh       mesh.Options
	reviewer   *admit.Reviewer
	// serviceEntry is the version the cluster serves; empty when it does not.
	serviceEntry schema.GroupVersionKind
}

// evaluate returns the findings of the object ref names; none when it is
// clean, gone, or (a ConfigMap) outside the mesh.
func (e *evaluator) evaluate(ctx context.Context, ref Ref) ([]admit.Finding, error) {
	var (
		obj        client.Object
		apiVersion string
	)
	key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
	switch ref.Kind {
	case kindIngress:
		ing := &networkingv1.Ingress{}
		if err := e.cache.Get(ctx, key, ing); err != nil {
			return gone(err)
		}
		obj, apiVersion = ing, "networking.k8s.io/v1"
	case kindConfigMap:
		// Outside the mesh nginx-http11 changes nothing, so the data is
		// never fetched there: that keeps the audit's reads proportional to
		// the mesh, not to the cluster.
		status, err := mesh.Lookup(ctx, e.namespaces, ref.Namespace, e.mesh)
		if err != nil {
			return gone(err)
		}
		if !status.Meshed {
			return nil, nil
		}
		if held, err := e.cached(ctx, key, corev1.SchemeGroupVersion.WithKind(kindConfigMap)); !held {
			return gone(err)
		}
		cm := &corev1.ConfigMap{}
		if err := e.api.Get(ctx, key, cm); err != nil {
			return gone(err)
		}
		obj, apiVersion = cm, "v1"
	case kindServiceEntry:
		if e.serviceEntry.Empty() {
			return nil, nil
		}
		if held, err := e.cached(ctx, key, e.serviceEntry); !held {
			return gone(err)
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(e.serviceEntry)
		if err := e.api.Get(ctx, key, u); err != nil {
			return gone(err)
		}
		obj, apiVersion = u, e.serviceEntry.GroupVersion().String()
	default:
		return nil, fmt.Errorf("unknown kind %q", ref.Kind)
	}
	raw, err := json.Marshal(withType(obj, apiVersion, ref.Kind))
	if err != nil {
		return nil, err
	}
	res, err := e.reviewer.Review(ctx, admit.Object{APIVersion: apiVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Raw: raw})
	if err != nil {
		return nil, err
	}
	return res.Findings(), nil
}

// cached reports whether the metadata cache still holds the object. The
// event that queued it came from that cache, so an object it no longer holds
// was deleted: such an object costs no API read, which keeps a burst of
// deletions (or creations followed by deletions) from queueing one GET each
// behind the client's rate limit.
func (e *evaluator) cached(ctx context.Context, key client.ObjectKey, gvk schema.GroupVersionKind) (bool, error) {
	if err := e.cache.Get(ctx, key, metadataOf(gvk)); err != nil {
		return false, err
	}
	return true, nil
}

// withType sets apiVersion and kind, which typed objects read through a
// client leave empty and the rules' requests need; the copy keeps the
// cache's object untouched.
func withType(obj client.Object, apiVersion, kind string) client.Object {
	obj = obj.DeepCopyObject().(client.Object)
	obj.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
	obj.SetManagedFields(nil)
	return obj
}

// gone turns "not found" (the object or its namespace was deleted) into
// "no findings"; any other error is retried.
func gone(err error) ([]admit.Finding, error) {
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return nil, err
}
