package audit

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	cache cache.Cache
	// kinds are the audited kinds, in the rules' order.
	kinds    []target
	pass     *pass
	metrics  *passMetrics
	eval     *evaluator
	store    *store
	interval time.Duration
	workers  int
	log      logr.Logger
	// reports writes policy reports (nil: off); firstPass closes when the
	// first full pass is complete.
	reports   *reporting
	firstPass chan struct{}
	// events records new violations as Events on the objects (nil: off).
	events Recorder
}

func newAuditor(c cache.Cache, reader cluster.Reader, kinds []target, gauge *prometheus.GaugeVec, pm *passMetrics, o Options) *auditor {
	byKind := make(map[string]target, len(kinds))
	for _, t := range kinds {
		byKind[t.gvk.Kind] = t
	}
	firstPass := make(chan struct{})
	var once sync.Once
	completed := pm.completeAt(time.Now)
	return &auditor{
		cache: c,
		kinds: kinds,
		pass: &pass{complete: func() {
			completed()
			once.Do(func() { close(firstPass) })
		}},
		firstPass: firstPass,
		metrics:   pm,
		eval: &evaluator{cache: c, api: reader.API, namespaces: reader, mesh: o.Mesh,
			reviewer: newReviewer(reader, o), targets: byKind, excluded: o.Excluded},
		store:    newStore(gauge, o.Log, time.Now),
		interval: o.Interval,
		workers:  cmp.Or(max(o.Workers, 0), 2),
		log:      o.Log,
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the
// leader audits; without leader election the single replica does.
func (a *auditor) NeedLeaderElection() bool { return true }

// watch is one informer the audit reads, and the kind its objects are queued as.
type watch struct {
	kind string
	obj  client.Object
}

// watches lists the informers the audit reads: one per audited kind, and
// the namespaces' metadata for their labels.
func (a *auditor) watches() []watch {
	out := []watch{{kind: kindNamespace, obj: metadataOf(cluster.NamespaceGVK)}}
	for _, t := range a.kinds {
		out = append(out, watch{kind: t.gvk.Kind, obj: t.watched()})
	}
	return out
}

// Start implements manager.Runnable: it runs until ctx ends.
func (a *auditor) Start(ctx context.Context) error {
	if !a.cache.WaitForCacheSync(ctx) {
		return nil
	}
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[Ref]())
	defer queue.ShutDown()
	// GetInformer starts an informer the cache does not run yet and waits
	// until it has synced, so the audit never lists from one still filling.
	// Adding a handler to a running informer replays every object it holds
	// as an add: that is the start-up pass, followed like the others.
	a.pass.begin()
	for _, w := range a.watches() {
		inf, err := a.cache.GetInformer(ctx, w.obj)
		if err != nil {
			return fmt.Errorf("watching %s: %w", w.kind, err)
		}
		reg, err := inf.AddEventHandler(a.handler(w.kind, queue))
		if err != nil {
			return err
		}
		defer func() { _ = inf.RemoveEventHandler(reg) }()
	}
	a.pass.expect(a.list(ctx))
	a.store.auditing.Store(true)
	defer a.store.auditing.Store(false)
	a.log.Info("audit started", "interval", a.interval.String())

	var wg sync.WaitGroup
	if a.reports != nil {
		wg.Go(func() { a.runReports(ctx, a.firstPass) })
	}
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
	a.pass.finish(ref)
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
	if appeared := a.store.set(ref, found); a.events != nil && len(appeared) > 0 {
		a.recordEvents(ctx, ref, appeared)
	}
	return nil
}

// enqueueNamespace queues the objects whose findings depend on the labels
// of namespace ns: those of the kinds whose rules act only in the mesh.
func (a *auditor) enqueueNamespace(ctx context.Context, q workqueue.TypedInterface[Ref], ns string) error {
	for _, t := range a.kinds {
		if !t.meshOnly {
			continue
		}
		list := t.list()
		if err := a.cache.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, ref := range refs(t.gvk.Kind, list) {
			q.Add(ref)
		}
	}
	return nil
}

// enqueueAll is the periodic full pass: every watched object, and every
// object with findings in case its delete event was missed.
func (a *auditor) enqueueAll(ctx context.Context, q workqueue.TypedInterface[Ref]) {
	a.pass.begin()
	all := a.list(ctx)
	a.pass.expect(all)
	for _, ref := range a.store.refs() {
		q.Add(ref)
	}
	for _, ref := range all {
		q.Add(ref)
	}
}

// list names every object of the audited kinds the cache holds, and counts
// them per kind.
func (a *auditor) list(ctx context.Context) []Ref {
	var all []Ref
	for _, t := range a.kinds {
		list := t.list()
		if err := a.cache.List(ctx, list); err != nil {
			a.log.Error(err, "audit could not list objects for the full pass", "kind", t.gvk.Kind)
			continue
		}
		found := refs(t.gvk.Kind, list)
		a.metrics.objects.WithLabelValues(t.gvk.Kind).Set(float64(len(found)))
		all = append(all, found...)
	}
	return all
}
