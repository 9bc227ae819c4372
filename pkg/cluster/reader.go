// Package cluster reads the few cluster objects rules need (namespace labels,
// IngressClasses, a namespace's Ingresses) from controller-runtime's informer
// cache, falling back to the API server on a cache miss. It never guesses:
// when an object cannot be read, the error goes back to the caller, and the
// webhook's failurePolicy decides.
package cluster

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NamespaceGVK is the kind of the metadata-only Namespace objects the cache
// holds: rules need only labels, and metadata keeps the cache small.
var NamespaceGVK = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}

// Reader serves rule look-ups.
type Reader struct {
	// Cache is the informer-backed reader (mgr.GetCache()).
	Cache client.Reader
	// API reads straight from the API server (mgr.GetAPIReader()), for objects
	// the cache has not seen yet (a namespace created a moment ago).
	API client.Reader
}

// NamespaceLabels returns the labels of a namespace.
func (r Reader) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(NamespaceGVK)
	if err := r.get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		return nil, fmt.Errorf("reading namespace %q: %w", name, err)
	}
	return ns.Labels, nil
}

// IngressClassController returns the controller of an IngressClass, and false
// when the class does not exist.
func (r Reader) IngressClassController(ctx context.Context, name string) (string, bool, error) {
	var ic networkingv1.IngressClass
	err := r.get(ctx, client.ObjectKey{Name: name}, &ic)
	if apierrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading IngressClass %q: %w", name, err)
	}
	return ic.Spec.Controller, true, nil
}

// Ingresses lists the Ingresses of a namespace from the cache.
func (r Reader) Ingresses(ctx context.Context, namespace string) ([]networkingv1.Ingress, error) {
	var list networkingv1.IngressList
	if err := r.Cache.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing Ingresses in namespace %q: %w", namespace, err)
	}
	return list.Items, nil
}

func (r Reader) get(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	err := r.Cache.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) && r.API != nil {
		err = r.API.Get(ctx, key, obj)
	}
	return err
}
