package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshguard/meshguard/pkg/reports"
)

// reportCRDs are the chart's copies of the wgpolicyk8s.io and
// openreports.io CRDs (hack/update-report-crds.sh).
var reportCRDs = filepath.Join("..", "..", "deploy", "charts", "meshguard", "files", "crds")

// TestPolicyReportsAgainstAPIServer runs the audit with policy reports on a
// real API server with the real report CRDs: reports appear with the
// results Policy Reporter reads, follow fixes and a namespace leaving the
// mesh, replace a previous leader's stale ones, survive a leader change
// untouched, never cover an excluded namespace, are owned by the webhook
// configuration, and cost no write while nothing changes.
func TestPolicyReportsAgainstAPIServer(t *testing.T) {
	cfg, c := startAPIServer(t)
	ctx := context.Background()
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{reportCRDs}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing the report CRDs: %v", err)
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "meshguard"}}
	stale := emptyReport(reports.WGPolicy, "stale")
	stale.Object["results"] = []any{map[string]any{"policy": "ingress-in-mesh", "result": "fail", "source": "meshguard"}}
	for _, o := range []client.Object{
		vwc,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"istio-injection": "enabled"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "stale"}},
		// Meshed, but excluded from admission (startAudit's Excluded).
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "infra", Labels: map[string]string{"istio-injection": "enabled"}}},
		ingress("infra", "gce", nil),
		ingress("app", "gce", nil),
		nginxConfigMap("app", "nginx"),
		stale,
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}

	rec := &recorded{}
	versions := map[reports.API]string{}
	t.Run("the first leader writes the reports", func(t *testing.T) {
		_, reg := startAuditWith(t, cfg, true, nil, func(o *Options) {
			o.Reports = ReportOptions{Enabled: true, Interval: 100 * time.Millisecond, Owner: "meshguard"}
			o.Events = rec
		})
		for _, api := range reports.APIs {
			r := waitForReport(t, c, api, "app", "the Ingress and the ConfigMap reported", func(r *unstructured.Unstructured) error {
				return wantResults(r, "nginx-http11 ConfigMap nginx fail medium", "ingress-in-mesh Ingress gce fail high")
			})
			checkReport(t, r, vwc)
			versions[api] = r.GetResourceVersion()
			waitForReport(t, c, api, "stale", "a previous leader's report pruned", nil)
		}

		// Each new violation is an Event on the object, by UID, so that
		// `kubectl describe` lists it.
		ing := &networkingv1.Ingress{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "app", Name: "gce"}, ing); err != nil {
			t.Fatal(err)
		}
		if got := rec.all(); len(got) != 2 || got[0].ref.UID != ing.UID || got[0].reason != "MeshguardViolation" ||
			!strings.HasPrefix(got[0].note, "[ingress-in-mesh] enforce mode would deny this object: ") ||
			got[1].ref.Kind != "ConfigMap" || !strings.HasPrefix(got[1].note, "[nginx-http11] enforce mode would change this object: ") {
			t.Errorf("events %+v, want one MeshguardViolation on the Ingress (UID %s) and one on the ConfigMap", got, ing.UID)
		}

		// Nothing changes: nothing is written, however many intervals pass.
		writes := writesTotal(t, reg)
		time.Sleep(2 * time.Second)
		if got := writesTotal(t, reg); got != writes {
			t.Errorf("%v report writes while nothing changed, want none", got-writes)
		}
	})

	// The first leader stopped and released the Lease. The next one
	// rebuilds its findings from scratch and must leave the reports as they
	// are: not prune them before its first pass, not rewrite them after.
	_, reg := startAuditWith(t, cfg, true, nil, func(o *Options) {
		o.Reports = ReportOptions{Enabled: true, Interval: 100 * time.Millisecond, Owner: "meshguard"}
	})
	for deadline := time.Now().Add(settle); gaugeValue(t, reg, "meshguard_audit_last_pass_timestamp_seconds", "") <= 0; {
		if time.Now().After(deadline) {
			t.Fatal("the second leader did not finish its first pass")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	for _, api := range reports.APIs {
		r := emptyReport(api, "app")
		if err := c.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			t.Fatalf("after the leader change: %v", err)
		}
		if r.GetResourceVersion() != versions[api] {
			t.Errorf("the new leader rewrote the %s (resourceVersion %s, was %s)", api.Kind, r.GetResourceVersion(), versions[api])
		}
	}
	if got := writesTotal(t, reg); got != 0 {
		t.Errorf("the new leader made %v report writes with nothing changed", got)
	}
	for _, api := range reports.APIs {
		if r := emptyReport(api, "infra"); c.Get(ctx, client.ObjectKeyFromObject(r), r) == nil {
			t.Errorf("a %s in the excluded namespace infra: %v", api.Kind, r.Object["results"])
		}
	}

	// Fixed at the source: the ConfigMap's result goes.
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "app", Name: "nginx"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["default.conf"] = strings.Replace(cm.Data["default.conf"], "proxy_pass", "proxy_http_version 1.1;\n        proxy_pass", 1)
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	for _, api := range reports.APIs {
		waitForReport(t, c, api, "app", "the fixed ConfigMap's result removed", func(r *unstructured.Unstructured) error {
			return wantResults(r, "ingress-in-mesh Ingress gce fail high")
		})
	}
	if err := c.Create(ctx, nginxConfigMap("app", "nginx-2")); err != nil {
		t.Fatal(err)
	}
	for _, api := range reports.APIs {
		waitForReport(t, c, api, "app", "a new ConfigMap's result added", func(r *unstructured.Unstructured) error {
			return wantResults(r, "nginx-http11 ConfigMap nginx-2 fail medium", "ingress-in-mesh Ingress gce fail high")
		})
	}

	if err := c.Delete(ctx, ingress("app", "gce", nil)); err != nil {
		t.Fatal(err)
	}
	for _, api := range reports.APIs {
		waitForReport(t, c, api, "app", "the deleted Ingress's result removed", func(r *unstructured.Unstructured) error {
			return wantResults(r, "nginx-http11 ConfigMap nginx-2 fail medium")
		})
	}

	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: "app"}, ns); err != nil {
		t.Fatal(err)
	}
	delete(ns.Labels, "istio-injection")
	if err := c.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, api := range reports.APIs {
		waitForReport(t, c, api, "app", "the report deleted once the namespace left the mesh", nil)
	}
}

// recorded is an audit Recorder that keeps what it is given.
type recorded struct {
	mu     sync.Mutex
	events []recordedEvent
}

type recordedEvent struct {
	ref                  corev1.ObjectReference
	reason, action, note string
}

func (r *recorded) Record(ref corev1.ObjectReference, reason, action, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, recordedEvent{ref, reason, action, note})
}

// all returns the events, Ingresses first.
func (r *recorded) all() []recordedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.events)
	slices.SortFunc(out, func(a, b recordedEvent) int { return -strings.Compare(a.ref.Kind, b.ref.Kind) })
	return out
}

// emptyReport is an empty report of api in namespace ns named as meshguard's.
func emptyReport(api reports.API, ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(api.GVK(ns))
	u.SetNamespace(ns)
	u.SetName(reports.Name)
	u.SetLabels(map[string]string{reports.ManagedByLabel: "meshguard"})
	if api == reports.OpenReports {
		u.Object["source"] = reports.Source
	}
	return u
}

// waitForReport polls meshguard's report of api in ns until ok accepts it,
// or, with ok nil, until it is gone.
func waitForReport(t *testing.T, c client.Client, api reports.API, ns, what string, ok func(*unstructured.Unstructured) error) *unstructured.Unstructured {
	t.Helper()
	deadline := time.Now().Add(settle)
	var last error
	for time.Now().Before(deadline) {
		r := emptyReport(api, ns)
		err := c.Get(context.Background(), client.ObjectKeyFromObject(r), r)
		switch {
		case ok == nil && apierrors.IsNotFound(err):
			return nil
		case ok == nil && err == nil:
			last = fmt.Errorf("still there: %v", r.Object["results"])
		case err != nil:
			last = err
		default:
			if last = ok(r); last == nil {
				return r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s %s/%s: %s: not within %s: %v", api.GVK(ns).Kind, ns, reports.Name, what, settle, last)
	return nil
}

// wantResults checks that r holds exactly the results described as
// "policy kind name result severity", and a summary that counts them.
func wantResults(r *unstructured.Unstructured, want ...string) error {
	list, _, _ := unstructured.NestedSlice(r.Object, "results")
	var got []string
	fails := int64(0)
	for _, x := range list {
		res := x.(map[string]any)
		refs, _ := res["resources"].([]any)
		if len(refs) != 1 {
			return fmt.Errorf("result %v names %d resources, want 1", res, len(refs))
		}
		ref := refs[0].(map[string]any)
		got = append(got, fmt.Sprintf("%s %s %s %s %s", res["policy"], ref["kind"], ref["name"], res["result"], res["severity"]))
		if res["result"] == "fail" {
			fails++
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		return fmt.Errorf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f, _, _ := unstructured.NestedInt64(r.Object, "summary", "fail"); f != fails {
		return fmt.Errorf("summary.fail = %d, want %d", f, fails)
	}
	return nil
}

// checkReport checks what Policy Reporter reads from a result besides its
// policy and outcome, and the report's owner and label.
func checkReport(t *testing.T, r *unstructured.Unstructured, owner *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	list, _, _ := unstructured.NestedSlice(r.Object, "results")
	res := list[len(list)-1].(map[string]any)
	ref := res["resources"].([]any)[0].(map[string]any)
	secs, _, _ := unstructured.NestedInt64(res, "timestamp", "seconds")
	if res["source"] != "meshguard" || res["rule"] != "ingress-in-mesh" || ref["apiVersion"] != "networking.k8s.io/v1" ||
		ref["namespace"] != "app" || secs < time.Now().Add(-time.Hour).Unix() ||
		!strings.Contains(res["message"].(string), `Ingress "gce" is not allowed in namespace "app"`) {
		t.Errorf("%s result %v lacks the source, rule, resource, timestamp or message", r.GetKind(), res)
	}
	refs := r.GetOwnerReferences()
	if len(refs) != 1 || refs[0].UID != owner.UID || refs[0].Kind != "ValidatingWebhookConfiguration" {
		t.Errorf("%s owners = %+v, want the ValidatingWebhookConfiguration %s", r.GetKind(), refs, owner.Name)
	}
	if r.GetLabels()[reports.ManagedByLabel] != "meshguard" {
		t.Errorf("%s labels = %v", r.GetKind(), r.GetLabels())
	}
}

// writesTotal sums meshguard_report_writes_total.
func writesTotal(t testing.TB, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "meshguard_report_writes_total" {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
