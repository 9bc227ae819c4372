// Package policysync keeps the admission policies meshguard compiles from its
// rules in the cluster: the leader applies them, puts them back when someone
// edits them, removes the ones no longer wanted, and says whether the API
// server took them (readiness, a log line, a metric).
package policysync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Labels on every object the sync writes; only objects carrying both are
// ever updated or deleted.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "meshguard"
	// OwnerLabel holds the name of the owning ValidatingWebhookConfiguration,
	// so two installations never prune each other's policies.
	OwnerLabel = "meshguard.dev/owner"
	// FieldManager is the server-side apply field manager.
	FieldManager = "meshguard"
)

// Kinds the sync manages, in the order they are applied: a policy before
// its binding, the parameters before both.
var Kinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "ConfigMap"},
	admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingAdmissionPolicy"),
	admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingAdmissionPolicyBinding"),
	admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingAdmissionPolicy"),
	admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingAdmissionPolicyBinding"),
}

// Options configure the sync.
type Options struct {
	// Owner names the ValidatingWebhookConfiguration that owns every object
	// written, so that deleting it (helm uninstall) garbage-collects them.
	Owner string
	// Build returns the objects wanted now; it is called on every pass, so
	// parameters follow the cluster.
	Build func(context.Context) ([]*unstructured.Unstructured, error)
	// Interval is the period of a full pass on top of the triggers.
	Interval time.Duration
	// Watch lists kinds whose changes start a pass (the parameters'
	// sources, the managed policies themselves).
	Watch []client.Object
	Log   logr.Logger
	// Registry receives meshguard_compiled_policy_* metrics; nil skips them.
	Registry prometheus.Registerer
}

// Syncer is the leader's runnable.
type Syncer struct {
	o Options
	c client.Client
	// r reads without the manager's cache: the owner (one object, get only)
	// and policies just written.
	r      client.Reader
	mgr    manager.Manager
	kick   chan struct{}
	ready  *prometheus.GaugeVec
	passes *prometheus.CounterVec

	mu      sync.Mutex
	leading bool
	lastErr error
	synced  bool
}

// Setup adds the sync to mgr: a runnable on the leader and a readiness
// check that fails while the leader's last pass failed.
func Setup(mgr manager.Manager, o Options) (*Syncer, error) {
	if o.Owner == "" || o.Build == nil {
		return nil, errors.New("policysync: Owner and Build are required")
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	s := newSyncer(mgr.GetClient(), mgr.GetAPIReader(), o)
	s.mgr = mgr
	if o.Registry != nil {
		for _, c := range []prometheus.Collector{s.ready, s.passes} {
			if err := o.Registry.Register(c); err != nil {
				return nil, err
			}
		}
	}
	if err := mgr.Add(s); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("compiled-policies", s.Check); err != nil {
		return nil, err
	}
	return s, nil
}

func newSyncer(c client.Client, r client.Reader, o Options) *Syncer {
	s := &Syncer{o: o, c: c, r: r, kick: make(chan struct{}, 1)}
	s.ready = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshguard_compiled_policy_ready",
		Help: "1 when the API server holds the compiled admission policy or binding as meshguard wrote it, 0 when the last write or check failed (leader only).",
	}, []string{"kind", "name"})
	s.passes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshguard_compiled_policy_syncs_total",
		Help: "Passes of the compiled admission policy sync, by result (ok, error).",
	}, []string{"result"})
	return s
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (s *Syncer) NeedLeaderElection() bool { return true }

// Check is the readiness check: on the leader, the last pass must have
// succeeded; other replicas do not sync and are not judged by it.
func (s *Syncer) Check(*http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.leading {
		return nil
	}
	if !s.synced {
		return errors.New("the compiled admission policies have not been written yet")
	}
	return s.lastErr
}

// Start implements manager.Runnable: a pass now, on every trigger, and every
// Interval, until ctx ends.
func (s *Syncer) Start(ctx context.Context) error {
	s.mu.Lock()
	s.leading = true
	s.mu.Unlock()
	for _, obj := range s.o.Watch {
		inf, err := s.mgr.GetCache().GetInformer(ctx, obj)
		if err != nil {
			// A kind the cluster does not serve yet: the periodic pass
			// still runs.
			s.o.Log.Info("not watching for changes", "kind", fmt.Sprintf("%T", obj), "error", err.Error())
			continue
		}
		kick := func(any) { s.Kick() }
		handler := toolscache.ResourceEventHandlerFuncs{AddFunc: kick, DeleteFunc: kick, UpdateFunc: func(_, o any) { kick(o) }}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		s.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
			// Let a burst of events settle into one pass.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
			select {
			case <-s.kick:
			default:
			}
		}
	}
}

// Kick asks for a pass soon; it never blocks.
func (s *Syncer) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// pass writes what Build wants, prunes the rest and records the outcome.
func (s *Syncer) pass(ctx context.Context) {
	err := s.Sync(ctx)
	s.mu.Lock()
	changed := (err == nil) != (s.lastErr == nil) || !s.synced
	s.lastErr, s.synced = err, true
	s.mu.Unlock()
	result := "ok"
	if err != nil {
		result = "error"
		s.o.Log.Error(err, "the compiled admission policies are not in place: the API server enforces their rules as last written, or not at all")
	} else if changed {
		s.o.Log.Info("the compiled admission policies are in place")
	}
	s.passes.WithLabelValues(result).Inc()
}

// Sync applies the wanted objects once and deletes managed objects that are
// no longer wanted.
func (s *Syncer) Sync(ctx context.Context) error {
	owner := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := s.r.Get(ctx, client.ObjectKey{Name: s.o.Owner}, owner); err != nil {
		return fmt.Errorf("reading the owner, ValidatingWebhookConfiguration %s: %w", s.o.Owner, err)
	}
	want, err := s.o.Build(ctx)
	if err != nil {
		return fmt.Errorf("compiling the rules: %w", err)
	}
	want = slices.Clone(want)
	slices.SortStableFunc(want, func(a, b *unstructured.Unstructured) int {
		return kindRank(a.GroupVersionKind()) - kindRank(b.GroupVersionKind())
	})
	var errs []error
	keep := map[string]bool{}
	for _, u := range want {
		u = u.DeepCopy()
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ManagedByLabel], labels[OwnerLabel] = ManagedBy, s.o.Owner
		u.SetLabels(labels)
		u.SetOwnerReferences([]metav1.OwnerReference{{
			APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingWebhookConfiguration",
			Name: owner.Name, UID: owner.UID,
		}})
		keep[key(u)] = true
		err := s.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership)
		if err == nil {
			err = s.verify(ctx, u)
		}
		s.ready.WithLabelValues(u.GetKind(), u.GetName()).Set(boolGauge(err == nil))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err))
		}
	}
	errs = append(errs, s.prune(ctx, keep)...)
	return errors.Join(errs...)
}

// verify reads back a policy and fails on what the API server reports
// about its expressions (type-checking warnings of a policy whose CEL does
// not check against the kinds it matches).
func (s *Syncer) verify(ctx context.Context, u *unstructured.Unstructured) error {
	if !strings.HasSuffix(u.GetKind(), "AdmissionPolicy") {
		return nil
	}
	have := &unstructured.Unstructured{}
	have.SetGroupVersionKind(u.GroupVersionKind())
	if err := s.r.Get(ctx, client.ObjectKeyFromObject(u), have); err != nil {
		return err
	}
	warnings, _, _ := unstructured.NestedSlice(have.Object, "status", "typeChecking", "expressionWarnings")
	var msgs []string
	for _, w := range warnings {
		if m, ok := w.(map[string]any); ok {
			msgs = append(msgs, fmt.Sprintf("%v: %v", m["fieldRef"], m["warning"]))
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("the API server's type check reports: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// prune deletes managed objects of this owner that are not wanted, e.g. a
// rule handed back to the webhook.
func (s *Syncer) prune(ctx context.Context, keep map[string]bool) []error {
	var errs []error
	for _, gvk := range Kinds {
		if gvk.Group == "" {
			// The parameters: one ConfigMap, owned like the policies, so
			// garbage-collected with them; never listed cluster-wide.
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		err := s.c.List(ctx, list, client.MatchingLabels{ManagedByLabel: ManagedBy, OwnerLabel: s.o.Owner})
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			continue // the cluster does not serve the kind: nothing to prune
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("listing %s: %w", gvk.Kind, err))
			continue
		}
		for i := range list.Items {
			u := &list.Items[i]
			if keep[key(u)] {
				continue
			}
			if err := s.c.Delete(ctx, u); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting %s %s: %w", u.GetKind(), u.GetName(), err))
				continue
			}
			s.ready.DeleteLabelValues(u.GetKind(), u.GetName())
			s.o.Log.Info("deleted a compiled admission policy object no longer wanted", "kind", u.GetKind(), "name", u.GetName())
		}
	}
	return errs
}

func key(u *unstructured.Unstructured) string {
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

func kindRank(gvk schema.GroupVersionKind) int {
	for i, k := range Kinds {
		if k.Kind == gvk.Kind {
			return i
		}
	}
	return len(Kinds)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
