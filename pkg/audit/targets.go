package audit

import (
	"fmt"
	"slices"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/policy"
)

// kindNamespace is not evaluated: the one rule on Namespaces,
// namespace-joins-mesh, speaks at the moment a namespace joins the mesh,
// which an audit of what exists never sees. The audit watches namespaces'
// labels instead and queues the objects of a namespace whose labels change.
const kindNamespace = "Namespace"

// target is a kind the audit evaluates, as the rules declare it, in the
// version the cluster serves.
type target struct {
	gvk schema.GroupVersionKind
	// meshOnly says every rule on the kind acts only in mesh-enabled
	// namespaces: objects elsewhere are never read, and a namespace's
	// labels decide whether its objects are evaluated again.
	meshOnly bool
	// whole and wholeList are set when the cache holds whole objects of the
	// kind, which are then read from it; otherwise the cache holds metadata
	// and an object is read from the API server while it is evaluated.
	whole     client.Object
	wholeList client.ObjectList
}

// targets derives the audited kinds from the rules that are not off: one
// target per group and kind, in the first declared version the cluster
// serves. A kind the cluster does not serve (Istio's CRDs not installed) is
// logged and left out until the server restarts.
func targets(rules []policy.Rule, modes policy.Modes, m meta.RESTMapper, log logr.Logger) ([]target, error) {
	type declared struct {
		versions []string
		meshOnly bool
	}
	var order []schema.GroupKind
	kinds := map[schema.GroupKind]*declared{}
	for _, r := range rules {
		if modes.For(r.ID()) == policy.Off {
			continue
		}
		match := r.Match()
		for _, k := range match.Kinds {
			gk := schema.GroupKind{Group: k.Group, Kind: k.Kind}
			if gk == cluster.NamespaceGVK.GroupKind() {
				continue
			}
			d, seen := kinds[gk]
			if !seen {
				d = &declared{meshOnly: true}
				kinds[gk] = d
				order = append(order, gk)
			}
			for _, v := range k.Versions {
				if !slices.Contains(d.versions, v) {
					d.versions = append(d.versions, v)
				}
			}
			d.meshOnly = d.meshOnly && match.MeshOnly
		}
	}
	var out []target
	for _, gk := range order {
		d := kinds[gk]
		mapping, err := m.RESTMapping(gk, d.versions...)
		if meta.IsNoMatchError(err) {
			log.Info("the cluster serves none of the versions the rules read: not audited until the server restarts", "group", gk.Group, "kind", gk.Kind, "versions", d.versions)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up %s: %w", gk, err)
		}
		t := target{gvk: mapping.GroupVersionKind, meshOnly: d.meshOnly}
		t.whole, t.wholeList = cluster.Whole(t.gvk)
		out = append(out, t)
	}
	return out, nil
}

// watched is the object whose informer the audit reads for the target.
func (t target) watched() client.Object {
	if t.whole != nil {
		return t.whole
	}
	return metadataOf(t.gvk)
}

// list returns the objects of the target the cache holds.
func (t target) list() client.ObjectList {
	if t.whole != nil {
		return t.wholeList.DeepCopyObject().(client.ObjectList)
	}
	l := &metav1.PartialObjectMetadataList{}
	l.SetGroupVersionKind(t.gvk.GroupVersion().WithKind(t.gvk.Kind + "List"))
	return l
}

// object is an empty object of the target to read the whole of into.
func (t target) object() client.Object {
	if t.whole != nil {
		return t.whole.DeepCopyObject().(client.Object)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(t.gvk)
	return u
}

// refs names every item of a list.
func refs(kind string, list client.ObjectList) []Ref {
	var out []Ref
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		if m, ok := o.(metav1.Object); ok {
			out = append(out, Ref{Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()})
		}
		return nil
	})
	return out
}

// metadataOf is a metadata-only object of the kind, which makes the cache
// keep a metadata informer for it.
func metadataOf(gvk schema.GroupVersionKind) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	return m
}
