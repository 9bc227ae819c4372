// Package reports writes the background audit's findings where policy tools
// look for them: one wgpolicyk8s.io/v1alpha2 PolicyReport per namespace (a
// ClusterPolicyReport for cluster-scoped objects), and the same as an
// openreports.io/v1alpha1 Report / ClusterReport where that API is served.
// Policy Reporter, Kyverno's and Kubewarden's tooling read both shapes.
//
// It knows report shapes and how to keep them in sync, nothing of rules or
// admission: the audit hands it the findings of a namespace.
package reports

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// API is one report API: the kinds for namespaced and cluster-scoped objects.
type API struct {
	Group, Version, Kind, ClusterKind string
}

// The report APIs meshguard writes, each when the cluster serves it.
var (
	WGPolicy    = API{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport", ClusterKind: "ClusterPolicyReport"}
	OpenReports = API{Group: "openreports.io", Version: "v1alpha1", Kind: "Report", ClusterKind: "ClusterReport"}
	APIs        = []API{WGPolicy, OpenReports}
)

// GVK is the kind of the report for namespace ns ("" for cluster scope).
func (a API) GVK(ns string) schema.GroupVersionKind {
	kind := a.Kind
	if ns == "" {
		kind = a.ClusterKind
	}
	return schema.GroupVersionKind{Group: a.Group, Version: a.Version, Kind: kind}
}

func (a API) String() string { return a.Group + "/" + a.Version }

const (
	// Name is the name of meshguard's report in each namespace.
	Name = "meshguard"
	// Source is the reports' and results' source, as Policy Reporter
	// filters and groups by it.
	Source = "meshguard"
	// ManagedByLabel marks the reports meshguard owns: it writes, prunes and
	// deletes only those.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "meshguard"
	// MaxResults bounds a report: a namespace with more findings gets the
	// first MaxResults and one error result counting the rest, so a report
	// stays far below etcd's object size limit.
	MaxResults = 1000
)

// Result is one finding on one object.
type Result struct {
	// Rule is the rule's ID: the result's policy and rule.
	Rule string
	// Action is "deny" (enforce mode would deny the object), "change"
	// (enforce mode would change it) or "warn" (advice).
	Action                            string
	APIVersion, Kind, Namespace, Name string
	Message                           string
	// Since is when the finding was first seen: the result's timestamp.
	Since time.Time
}

// outcome maps an action to the result and severity of the report formats.
func outcome(action string) (result, severity string) {
	switch action {
	case "deny":
		return "fail", "high"
	case "change":
		return "fail", "medium"
	}
	return "warn", "low"
}

// build returns the report of api for namespace ns holding results: sorted,
// capped at MaxResults, with its summary.
func build(api API, ns string, results []Result, owner *metav1.OwnerReference) *unstructured.Unstructured {
	results = slices.Clone(results)
	slices.SortFunc(results, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Action, b.Action), cmp.Compare(a.Message, b.Message))
	})
	summary := map[string]any{"pass": int64(0), "fail": int64(0), "warn": int64(0), "error": int64(0), "skip": int64(0)}
	var list []any
	for i, r := range results {
		if i == MaxResults {
			summary["error"] = int64(1)
			list = append(list, map[string]any{
				"source": Source, "policy": Source, "rule": "report-size", "result": "error", "severity": "info",
				"message":   fmt.Sprintf("%d more findings in this namespace are not listed (a report holds at most %d); read them from meshguard's /report", len(results)-MaxResults, MaxResults),
				"timestamp": map[string]any{"seconds": r.Since.Unix(), "nanos": int64(0)},
			})
			break
		}
		res, sev := outcome(r.Action)
		summary[res] = summary[res].(int64) + 1
		ref := map[string]any{"apiVersion": r.APIVersion, "kind": r.Kind, "name": r.Name}
		if r.Namespace != "" {
			ref["namespace"] = r.Namespace
		}
		list = append(list, map[string]any{
			"source": Source, "policy": r.Rule, "rule": r.Rule, "category": "Istio migration",
			"result": res, "severity": sev, "message": r.Message,
			"properties": map[string]any{"action": r.Action},
			"resources":  []any{ref},
			"timestamp":  map[string]any{"seconds": r.Since.Unix(), "nanos": int64(0)},
		})
	}
	u := &unstructured.Unstructured{Object: map[string]any{"results": list, "summary": summary}}
	u.SetGroupVersionKind(api.GVK(ns))
	u.SetName(Name)
	u.SetNamespace(ns)
	u.SetLabels(map[string]string{ManagedByLabel: managedBy})
	if owner != nil {
		u.SetOwnerReferences([]metav1.OwnerReference{*owner})
	}
	if api == OpenReports {
		// openreports.io carries the source on the report as well.
		u.Object["source"] = Source
	}
	return u
}
