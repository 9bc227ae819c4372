package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/pkg/admit"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
)

// evaluator turns one object, read from the cluster, into findings.
type evaluator struct {
	// cache is the informer cache: whole objects of the kinds the rules
	// already cache, metadata of the others.
	cache client.Reader
	// api reads what the cache does not hold: a ConfigMap's data, a
	// ServiceEntry's spec.
	api        client.Reader
	namespaces cluster.Reader
	mesh       mesh.Options
	reviewer   *admit.Reviewer
	// targets are the audited kinds by kind name.
	targets map[string]target
	// excluded are the namespaces admission never reviews.
	excluded []string
}

// evaluate returns the findings of the object ref names; none when it is
// clean, gone, or outside the mesh while every rule on its kind acts only
// inside it (which keeps the audit's reads proportional to the mesh, not to
// the cluster).
func (e *evaluator) evaluate(ctx context.Context, ref Ref) ([]admit.Finding, error) {
	t, ok := e.targets[ref.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %q", ref.Kind)
	}
	if slices.Contains(e.excluded, ref.Namespace) {
		return nil, nil
	}
	if t.meshOnly {
		status, err := mesh.Lookup(ctx, e.namespaces, ref.Namespace, e.mesh)
		if err != nil {
			return gone(err)
		}
		if !status.Meshed {
			return nil, nil
		}
	}
	obj, err := e.read(ctx, t, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name})
	if err != nil {
		return gone(err)
	}
	apiVersion := t.gvk.GroupVersion().String()
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

// read returns the whole object: from the cache when it holds whole objects
// of the kind, otherwise from the API server, and then only while the
// metadata cache still holds it.
func (e *evaluator) read(ctx context.Context, t target, key client.ObjectKey) (client.Object, error) {
	obj := t.object()
	if t.whole != nil {
		return obj, e.cache.Get(ctx, key, obj)
	}
	if held, err := e.cached(ctx, key, t.gvk); !held {
		return nil, err
	}
	return obj, e.api.Get(ctx, key, obj)
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
