// Package audit evaluates what already exists in the cluster with the
// webhook's own rules, so teams see what enforce mode would deny or change
// before they turn it on. It audits the kinds the rules declare (their
// policy.Match), at start-up, whenever an object or a namespace's labels
// change, and on a full pass every Interval. Findings are exported as the
// meshguard_violations{rule,namespace} gauge, a log line per new finding,
// GET /report on the metrics server, and, with Options.Reports, policy
// reports (package reports) that the leader keeps in sync.
//
// Memory: kinds the rules already cache whole (Ingresses) are read from the
// cache; the others (ConfigMaps, ServiceEntries) are cached as metadata only
// (name, namespace, labels and annotations, without managedFields), and an
// object is read from the API server only while it is evaluated, and, for a
// kind whose rules act only in the mesh, only in a mesh namespace. What the
// audit itself keeps is its findings: O(objects with findings).
package audit

import (
	"errors"

	"fmt"
	corev1 "k8s.io/api/core/v1"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/meshguard/meshguard/pkg/admit"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/reports"
)

// ReportPath is where the metrics server answers with the findings.
const ReportPath = "/report"

// Options configure the audit.
type Options struct {
	// Interval is the period of the full re-evaluation that backs up the
	// events; it must be positive (the caller skips Setup to turn the audit off).
	Interval time.Duration
	// Rules are the server's rules; the audit builds them on its own reader.
	Rules admit.RuleSet
	// Modes decide which rules run: a rule that is off is not audited,
	// every other rule is evaluated as enforce mode would evaluate it.
	Modes           policy.Modes
	AllowExemptions bool
	// Mesh is the server's mesh predicate, deciding which ConfigMaps are read.
	Mesh mesh.Options
	// Excluded are the namespaces admission never reviews (the webhook
	// configurations' namespaceSelector leaves them out): the audit leaves
	// their objects out too, so it never reports what admission would allow.
	Excluded []string
	// Registry receives the gauge (controller-runtime's metrics.Registry).
	Registry prometheus.Registerer
	Log      logr.Logger
	// Workers evaluate objects in parallel (2 when 0).
	Workers int
	// Reports configure the policy reports the audit writes.
	Reports ReportOptions
	// Events, when set, records a MeshguardViolation Event on an object
	// when the audit first finds what enforce mode would deny or change.
	Events Recorder
}

// Recorder records Events; it must not block (package events).
type Recorder interface {
	Record(ref corev1.ObjectReference, reason, action, note string)
}

// ReportOptions configure the policy reports (package reports).
type ReportOptions struct {
	// Enabled writes them, to every report API the cluster serves.
	Enabled bool
	// Interval coalesces writes: each namespace's reports are written at
	// most once per interval.
	Interval time.Duration
	// Owner names the ValidatingWebhookConfiguration that owns the
	// reports, so uninstalling meshguard removes them ("" for none).
	Owner string
}

// Setup adds the audit to mgr before it starts: the gauge, GET /report, and
// a leader-elected runnable that starts the informers the audit reads and
// does the work, so replicas neither repeat it nor hold its caches.
func Setup(mgr manager.Manager, o Options) error {
	if o.Interval <= 0 {
		return errors.New("the audit interval must be positive")
	}
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshguard_violations",
		Help: "Existing objects that enforce mode would deny or change, per rule and namespace (background audit; set by the leader only).",
	}, []string{"rule", "namespace"})
	if err := o.Registry.Register(gauge); err != nil {
		return fmt.Errorf("registering the audit gauge: %w", err)
	}
	pm, err := newPassMetrics(o.Registry)
	if err != nil {
		return fmt.Errorf("registering the audit's metrics: %w", err)
	}
	reader := cluster.Reader{Cache: mgr.GetCache(), API: mgr.GetAPIReader()}
	kinds, err := targets(o.Rules(reader).All(), o.Modes, mgr.GetRESTMapper(), o.Log)
	if err != nil {
		return err
	}
	// The informers are started by the auditor, on the leader only: a
	// replica that does not audit holds no ConfigMap or ServiceEntry cache.
	a := newAuditor(mgr.GetCache(), reader, kinds, gauge, pm, o)
	a.events = o.Events
	if o.Reports.Enabled {
		if o.Reports.Interval <= 0 {
			return errors.New("the policy report interval must be positive")
		}
		writes, err := reports.NewWrites(o.Registry)
		if err != nil {
			return fmt.Errorf("registering the report metrics: %w", err)
		}
		a.reports = &reporting{
			writer: &reports.Writer{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Mapper: mgr.GetRESTMapper(),
				Log: o.Log.WithName("reports"), Writes: writes},
			interval: o.Reports.Interval, owner: o.Reports.Owner, resync: o.Interval,
		}
	}
	if err := mgr.AddMetricsServerExtraHandler(ReportPath, a.store); err != nil {
		return fmt.Errorf("serving %s: %w", ReportPath, err)
	}
	return mgr.Add(a)
}

// newReviewer builds the rules on a reader over the cache and the API, as
// the server does, and runs them as enforce mode would.
func newReviewer(c cluster.Reader, o Options) *admit.Reviewer {
	var off []string
	for _, r := range o.Rules(c).All() {
		if o.Modes.For(r.ID()) == policy.Off {
			off = append(off, r.ID())
		}
	}
	return admit.NewReviewer(c, admit.Options{Rules: o.Rules, Off: off, AllowExemptions: o.AllowExemptions})
}
