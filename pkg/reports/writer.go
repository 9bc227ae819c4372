package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Writer keeps meshguard's reports in step with the findings it is given:
// one report per namespace and served API, written only when its results
// change, deleted when a namespace has none left.
type Writer struct {
	// Client writes the reports; Reader reads them from the API server (not
	// a cache: the audit holds no informer on reports).
	Client client.Client
	Reader client.Reader
	Mapper meta.RESTMapper
	// Owner, when set, owns every report (the chart's
	// ValidatingWebhookConfiguration), so uninstalling meshguard lets the
	// garbage collector remove them.
	Owner *metav1.OwnerReference
	Log   logr.Logger
	// Writes counts API writes by report kind and operation.
	Writes *prometheus.CounterVec

	served []API
}

// NewWrites returns the writes counter, registered on reg.
func NewWrites(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshguard_report_writes_total",
		Help: "Policy report writes to the API server by the audit, per report kind and operation (create, update, delete).",
	}, []string{"kind", "operation"})
	return c, reg.Register(c)
}

// Detect asks the API server which report APIs it serves now and returns
// those that appeared since the last call (all of them on the first), so
// the caller can write every namespace's report to a newly installed API.
func (w *Writer) Detect() (appeared []API) {
	var now []API
	for _, api := range APIs {
		_, err := w.Mapper.RESTMapping(api.GVK("x").GroupKind(), api.Version)
		switch {
		case err == nil:
			now = append(now, api)
			if !slices.Contains(w.served, api) {
				appeared = append(appeared, api)
				w.Log.Info("writing policy reports", "api", api.String())
			}
		case !meta.IsNoMatchError(err):
			// Discovery failed: keep what was known.
			if slices.Contains(w.served, api) {
				now = append(now, api)
			}
			w.Log.Error(err, "could not tell whether the API server serves a report API", "api", api.String())
		}
	}
	w.served = now
	return appeared
}

// Served lists the report APIs found by the last Detect.
func (w *Writer) Served() []API { return slices.Clone(w.served) }

// Sync makes namespace ns's reports (cluster-scoped ones for "") in every
// served API hold exactly results.
func (w *Writer) Sync(ctx context.Context, ns string, results []Result) error {
	var errs []error
	for _, api := range w.served {
		errs = append(errs, w.sync(ctx, api, ns, results))
	}
	return errors.Join(errs...)
}

func (w *Writer) sync(ctx context.Context, api API, ns string, results []Result) error {
	want := build(api, ns, results, w.Owner)
	have := &unstructured.Unstructured{}
	have.SetGroupVersionKind(want.GroupVersionKind())
	err := w.Reader.Get(ctx, client.ObjectKeyFromObject(want), have)
	switch {
	case apierrors.IsNotFound(err):
		if len(results) == 0 {
			return nil
		}
		return w.write(ctx, "create", want, w.Client.Create(ctx, want))
	case err != nil:
		return fmt.Errorf("reading %s %s/%s: %w", want.GetKind(), ns, Name, err)
	case have.GetLabels()[ManagedByLabel] != managedBy:
		return fmt.Errorf("%s %s/%s exists and is not meshguard's (no %s=%s label): leaving it alone", want.GetKind(), ns, Name, ManagedByLabel, managedBy)
	case len(results) == 0:
		return w.write(ctx, "delete", have, client.IgnoreNotFound(w.Client.Delete(ctx, have, client.Preconditions{UID: ptr.To(have.GetUID())})))
	}
	keepTimestamps(have, want)
	if same(have, want) {
		return nil
	}
	// What others put on the report (labels, annotations) stays.
	want.SetResourceVersion(have.GetResourceVersion())
	want.SetLabels(merge(have.GetLabels(), want.GetLabels()))
	want.SetAnnotations(have.GetAnnotations())
	return w.write(ctx, "update", want, w.Client.Update(ctx, want))
}

func (w *Writer) write(_ context.Context, op string, obj *unstructured.Unstructured, err error) error {
	if err != nil {
		return fmt.Errorf("%s %s %s/%s: %w", op, obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	if w.Writes != nil {
		w.Writes.WithLabelValues(obj.GetKind(), op).Inc()
	}
	return nil
}

// Prune deletes meshguard's reports in the namespaces keep does not name:
// those a previous leader wrote for findings that are gone since.
func (w *Writer) Prune(ctx context.Context, keep func(ns string) bool) error {
	var errs []error
	for _, api := range w.served {
		for _, ns := range []string{"x", ""} {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(api.GVK(ns).GroupVersion().WithKind(api.GVK(ns).Kind + "List"))
			if err := w.Reader.List(ctx, list, client.MatchingLabels{ManagedByLabel: managedBy}); err != nil {
				errs = append(errs, fmt.Errorf("listing %ss: %w", api.GVK(ns).Kind, err))
				continue
			}
			for i := range list.Items {
				r := &list.Items[i]
				if r.GetName() != Name || keep(r.GetNamespace()) {
					continue
				}
				errs = append(errs, w.write(ctx, "delete", r, client.IgnoreNotFound(w.Client.Delete(ctx, r))))
			}
		}
	}
	return errors.Join(errs...)
}

// keepTimestamps gives want's results the timestamps of the same results
// in have: a result's timestamp is when it was first reported, which a new
// leader, whose findings are all new to it, must not move (and rewrite
// every report for).
func keepTimestamps(have, want *unstructured.Unstructured) {
	old, _, _ := unstructured.NestedSlice(have.Object, "results")
	first := make(map[string]any, len(old))
	for _, r := range old {
		if m, ok := r.(map[string]any); ok {
			first[resultKey(m)] = m["timestamp"]
		}
	}
	results, _ := want.Object["results"].([]any)
	for _, r := range results {
		m := r.(map[string]any)
		if ts, ok := first[resultKey(m)]; ok && ts != nil {
			m["timestamp"] = ts
		}
	}
}

// resultKey identifies a result without its timestamp.
func resultKey(m map[string]any) string {
	ts := m["timestamp"]
	delete(m, "timestamp")
	defer func() {
		if ts != nil {
			m["timestamp"] = ts
		}
	}()
	b, _ := json.Marshal(m)
	return string(b)
}

// same reports whether have already holds want's results, summary and owner.
func same(have, want *unstructured.Unstructured) bool {
	for _, field := range []string{"results", "summary", "source"} {
		if !jsonEqual(have.Object[field], want.Object[field]) {
			return false
		}
	}
	return jsonEqual(have.GetOwnerReferences(), want.GetOwnerReferences())
}

// jsonEqual compares two values as the API server stores them.
func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}
