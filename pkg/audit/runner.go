package audit

import (
	"cmp"
	"context"
	"maps"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/pkg/cluster"
)

// maxRetries bounds the retries of an object whose evaluation fails; the
// next full pass tries again.
const maxRetries = 5

// auditor is the leader-elected runnable: informer events and the periodic
// full pass put objects on a queue, workers evaluate them into the store.
type auditor struct {
	cache    cache.Cache
	eval     *evaluator
	store    *store
	interval time.Duration
	workers  int
	log      logr.Logger
}

func newAuditor(c cache.Cache, api client.Reader, se schema.GroupVersionKind, gauge *prometheus.GaugeVec, o Options) *auditor {
	reader := cluster.Reader{Cache: c, API: api}
	return &auditor{
		cache: c,
		eval: &evaluator{cache: c, api: api, namespaces: reader, mesh: o.Mesh,
			reviewer: newReviewer(reader, o), serviceEntry: se},
		store:    newStore(gauge, o.Log, time.Now),
		interval: o.Interval,
		workers:  cmp.Or(max(o.Workers, 0), 2),
		log:      o.Log,
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the
// leader audits; without leader election the single replica does.
func (a *auditor) NeedLeaderElection() bool { return true }

// watched lists the objects whose informers the audit reads.
func (a *auditor) watched() []client.Object {
	objs := []client.Object{&networkingv1.Ingress{}, metadataOf(corev1.SchemeGroupVersion.WithKind("ConfigMap")), metadataOf(cluster.NamespaceGVK)}
	if !a.eval.serviceEntry.Empty() {
		objs = append(objs, metadataOf(a.eval.serviceEntry))
	}
	return objs
}

// kindOf names the audited kind of a watched object.
func (a *auditor) kindOf(obj client.Object) string {
	switch o := obj.(type) {
	case *networkingv1.Ingress:
		return kindIngress
	case *metav1.PartialObjectMetadata:
		return o.Kind
	}
	return ""
}

// Start implements manager.Runnable: it runs until ctx ends.
func (a *auditor) Start(ctx context.Context) error {
	if !a.cache.WaitForCacheSync(ctx) {
		return nil
	}
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[Ref]())
	defer queue.ShutDown()
	// Adding a handler to a running informer replays every object it holds
	// as an add: that is the start-up pass.
	for _, obj := range a.watched() {
		inf, err := a.cache.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		reg, err := inf.AddEventHandler(a.handler(a.kindOf(obj), queue))
		if err != nil {
			return err
		}
		defer func() { _ = inf.RemoveEventHandler(reg) }()
	}
	a.store.auditing.Store(true)
	defer a.store.auditing.Store(false)
	a.log.Info("audit started", "interval", a.interval.String())

	var wg sync.WaitGroup
	for range a.workers {
		wg.Go(func() {
			for a.next(ctx, queue) {
			}
		})
	}
	tick := time.NewTicker(a.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			queue.ShutDown()
			wg.Wait()
			return nil
		case <-tick.C:
			a.enqueueAll(ctx, queue)
		}
	}
}

// handler queues the objects an event touches; a namespace counts only when
// its labels change, since only they decide what is in the mesh.
func (a *auditor) handler(kind string, q workqueue.TypedInterface[Ref]) toolscache.ResourceEventHandler {
	add := func(obj any) {
		if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			if kind == kindNamespace {
				q.Add(Ref{Kind: kindNamespace, Name: m.GetName()})
				return
			}
			q.Add(Ref{Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()})
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if kind != kindNamespace {
				add(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(metav1.Object)
			n, ok2 := newObj.(metav1.Object)
			if !ok1 || !ok2 {
				return
			}
			if kind == kindNamespace && !maps.Equal(o.GetLabels(), n.GetLabels()) ||
				kind != kindNamespace && o.GetResourceVersion() != n.GetResourceVersion() {
				add(newObj)
			}
		},
		DeleteFunc: func(obj any) {
			if kind != kindNamespace {
				add(obj)
			}
		},
	}
}

// next evaluates one queued object; false once the queue shuts down.
func (a *auditor) next(ctx context.Context, q workqueue.TypedRateLimitingInterface[Ref]) bool {
	ref, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(ref)
	if err := a.process(ctx, q, ref); err != nil {
		if q.NumRequeues(ref) < maxRetries {
			q.AddRateLimited(ref)
			return true
		}
		a.log.Error(err, "audit could not evaluate an object; the next full pass retries", "kind", ref.Kind, "namespace", ref.Namespace, "name", ref.Name)
	}
	q.Forget(ref)
	return true
}

func (a *auditor) process(ctx context.Context, q workqueue.TypedInterface[Ref], ref Ref) error {
	if ref.Kind == kindNamespace {
		return a.enqueueNamespace(ctx, q, ref.Name)
	}
	found, err := a.eval.evaluate(ctx, ref)
	if err != nil {
		return err
	}
	a.store.set(ref, found)
	return nil
}

// enqueueNamespace queues the objects whose findings depend on the labels
// of namespace ns (ServiceEntries do not).
func (a *auditor) enqueueNamespace(ctx context.Context, q workqueue.TypedInterface[Ref], ns string) error {
	var ings networkingv1.IngressList
	if err := a.cache.List(ctx, &ings, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, i := range ings.Items {
		q.Add(Ref{Kind: kindIngress, Namespace: i.Namespace, Name: i.Name})
	}
	cms := &metav1.PartialObjectMetadataList{}
	cms.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
	if err := a.cache.List(ctx, cms, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, c := range cms.Items {
		q.Add(Ref{Kind: kindConfigMap, Namespace: c.Namespace, Name: c.Name})
	}
	return nil
}

// enqueueAll is the periodic full pass: every watched object, and every
// object with findings in case its delete event was missed.
func (a *auditor) enqueueAll(ctx context.Context, q workqueue.TypedInterface[Ref]) {
	for _, ref := range a.store.refs() {
		q.Add(ref)
	}
	for _, obj := range a.watched() {
		kind := a.kindOf(obj)
		if kind == kindNamespace {
			continue
		}
		list := &metav1.PartialObjectMetadataList{}
		var items []metav1.Object
		var err error
		if kind == kindIngress {
			var ings networkingv1.IngressList
			err = a.cache.List(ctx, &ings)
			for i := range ings.Items {
				items = append(items, &ings.Items[i])
			}
		} else {
			gvk := obj.GetObjectKind().GroupVersionKind()
			list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			err = a.cache.List(ctx, list)
			for i := range list.Items {
				items = append(items, &list.Items[i])
			}
		}
		if err != nil {
			a.log.Error(err, "audit could not list objects for the full pass", "kind", kind)
			continue
		}
		for _, m := range items {
			q.Add(Ref{Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()})
		}
	}
}
