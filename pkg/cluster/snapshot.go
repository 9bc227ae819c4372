package cluster

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Snapshot is a client.Reader over a fixed set of the objects Reader looks
// up: namespaces (their labels), IngressClasses and the Ingresses of a
// namespace. It stands in for a cluster where there is none to ask
// (`webhook check`). Any other lookup is an error rather than "not found",
// so a rule that starts reading something new cannot pass offline by
// seeing nothing.
type Snapshot struct {
	// Namespaces maps a namespace's name to its labels.
	Namespaces map[string]map[string]string
	// IngressClasses maps a class's name to the class.
	IngressClasses map[string]*networkingv1.IngressClass
	// Ingresses maps a namespace's name to its Ingresses.
	Ingresses map[string][]networkingv1.Ingress
}

var _ client.Reader = (*Snapshot)(nil)

// Get implements client.Reader for metadata-only Namespaces (as
// NamespaceLabels reads them) and IngressClasses. Readers get copies:
// reviews run in parallel on one Snapshot.
func (s *Snapshot) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		if o.GroupVersionKind() != NamespaceGVK {
			break
		}
		labels, ok := s.Namespaces[key.Name]
		if !ok {
			return apierrors.NewNotFound(corev1.Resource("namespaces"), key.Name)
		}
		o.ObjectMeta = metav1.ObjectMeta{Name: key.Name, Labels: maps.Clone(labels)}
		return nil
	case *networkingv1.IngressClass:
		ic, ok := s.IngressClasses[key.Name]
		if !ok {
			return apierrors.NewNotFound(networkingv1.Resource("ingressclasses"), key.Name)
		}
		ic.DeepCopyInto(o)
		return nil
	}
	return fmt.Errorf("the snapshot holds no %T %q: it serves metadata-only Namespaces and IngressClasses", obj, key.Name)
}

// List implements client.Reader for the Ingresses of one namespace, as
// Ingresses reads them.
func (s *Snapshot) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	ings, ok := list.(*networkingv1.IngressList)
	if !ok || o.Namespace == "" || o.LabelSelector != nil || o.FieldSelector != nil {
		return fmt.Errorf("the snapshot lists only the Ingresses of one namespace, not %T with %+v", list, *o)
	}
	ings.Items = nil
	for _, ing := range s.Ingresses[o.Namespace] {
		ings.Items = append(ings.Items, *ing.DeepCopy())
	}
	return nil
}
