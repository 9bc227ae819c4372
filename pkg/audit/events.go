package audit

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/pkg/events"
)

// recordEvents records a MeshguardViolation Event for each finding that
// just appeared on ref and that enforce mode would act on (advice gets
// none). The object's UID comes from the cache the audit watches, so that
// `kubectl describe` lists the Event; an object gone meanwhile gets none.
func (a *auditor) recordEvents(ctx context.Context, ref Ref, appeared []Finding) {
	t, ok := a.eval.targets[ref.Kind]
	if !ok {
		return
	}
	obj := t.watched().DeepCopyObject().(client.Object)
	if err := a.cache.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, obj); err != nil {
		return
	}
	for _, f := range appeared {
		would := map[string]string{"deny": "deny", "change": "change"}[f.Severity]
		if would == "" {
			continue
		}
		a.events.Record(corev1.ObjectReference{
			APIVersion: t.gvk.GroupVersion().String(), Kind: ref.Kind,
			Namespace: ref.Namespace, Name: ref.Name, UID: obj.GetUID(),
		}, events.ReasonViolation, "Audit", "["+f.Rule+"] enforce mode would "+would+" this object: "+f.Message)
	}
}
