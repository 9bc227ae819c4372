package cluster

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cached returns one empty object of each kind the Reader reads from the
// cache: Namespaces as metadata, IngressClasses and Ingresses whole. The
// server registers their informers before it serves.
func Cached() []client.Object {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(NamespaceGVK)
	return []client.Object{ns, &networkingv1.IngressClass{}, &networkingv1.Ingress{}}
}

// Whole returns an empty object and list of the kind when the cache holds
// whole objects of it (the Reader's IngressClasses and Ingresses), so other
// readers of the cache (the audit) take them from there; nil otherwise.
func Whole(gvk schema.GroupVersionKind) (client.Object, client.ObjectList) {
	switch gvk {
	case networkingv1.SchemeGroupVersion.WithKind("Ingress"):
		return &networkingv1.Ingress{}, &networkingv1.IngressList{}
	case networkingv1.SchemeGroupVersion.WithKind("IngressClass"):
		return &networkingv1.IngressClass{}, &networkingv1.IngressClassList{}
	}
	return nil, nil
}
