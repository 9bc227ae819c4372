package main

import (
	"errors"
	"flag"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/meshguard/meshguard/certs"
	"github.com/meshguard/meshguard/pkg/audit"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/server"
)

// auditFlags are the flags of the background audit and of the leader
// election that keeps replicas from repeating it.
type auditFlags struct {
	interval                  time.Duration
	leaderElect               bool
	leaseName, leaseNamespace string
	excluded                  string
	reports                   bool
	reportInterval            time.Duration
	reportOwner               string
}

func addAuditFlags(fs *flag.FlagSet) *auditFlags {
	a := &auditFlags{}
	fs.DurationVar(&a.interval, "audit-interval", time.Hour, "background audit of existing Ingresses, nginx ConfigMaps and ServiceEntries: period of the full re-evaluation on top of change events (0 turns the audit off); findings at GET /report on the metrics address")
	fs.BoolVar(&a.leaderElect, "leader-elect", false, "elect one replica to run the background audit (every replica serves reviews); off, this replica audits")
	fs.StringVar(&a.leaseName, "leader-election-id", "meshguard-audit", "name of the Lease used for leader election")
	fs.StringVar(&a.leaseNamespace, "leader-election-namespace", "", "namespace of the Lease (default: $POD_NAMESPACE, then the pod's own namespace)")
	fs.StringVar(&a.excluded, "excluded-namespaces", "kube-system,kube-node-lease", "comma-separated namespaces the webhook configurations never send (their namespaceSelector's exclusions; the chart passes the same list): the audit leaves their objects out too")
	fs.BoolVar(&a.reports, "policy-reports", false, "write the audit's findings as wgpolicyk8s.io/v1alpha2 PolicyReports and openreports.io/v1alpha1 Reports, one per namespace, to each of those APIs the cluster serves (the leader only)")
	fs.DurationVar(&a.reportInterval, "policy-report-interval", 10*time.Second, "coalesce policy report writes: each namespace's reports are written at most once per interval, and only when their results changed")
	fs.StringVar(&a.reportOwner, "policy-reports-owner", "", "name of the ValidatingWebhookConfiguration that owns the policy reports, so that deleting it (helm uninstall) garbage-collects them")
	return a
}

// wire adds leader election and the audit to the server's options; m is the
// mesh predicate the rules were given.
func (a *auditFlags) wire(o server.Options, m mesh.Options) (server.Options, error) {
	if a.interval < 0 {
		return o, errors.New("--audit-interval must not be negative (0 turns the audit off)")
	}
	o.LeaderElection, o.LeaderElectionID = a.leaderElect, a.leaseName
	o.LeaderElectionNamespace = a.leaseNamespace
	if a.leaderElect && o.LeaderElectionNamespace == "" {
		o.LeaderElectionNamespace = certs.DefaultNamespace()
	}
	if a.interval == 0 {
		return o, nil
	}
	o.AddOns = append(o.AddOns, server.AddOn{Name: "the background audit", Setup: func(h server.Host) error {
		var rec audit.Recorder
		if h.Events != nil {
			rec = h.Events
		}
		return audit.Setup(h.Manager, audit.Options{
			Interval: a.interval, Rules: o.Rules, Modes: o.Modes, AllowExemptions: o.AllowExemptions,
			Mesh: m, Excluded: splitList(a.excluded), Registry: metrics.Registry, Log: o.Log.WithName("audit"),
			Reports: audit.ReportOptions{Enabled: a.reports, Interval: a.reportInterval, Owner: a.reportOwner},
			Events:  rec,
		})
	}})
	return o, nil
}
