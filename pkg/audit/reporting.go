package audit

import (
	"context"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/pkg/reports"
)

// reporting writes the store's findings as policy reports, on the leader,
// once the first full pass is complete (before that, the store is partial
// and writing it would delete a previous leader's results only to write
// them again). Writes are coalesced: each interval writes the namespaces
// whose findings changed, and only reports whose results differ.
type reporting struct {
	writer   *reports.Writer
	interval time.Duration
	// owner names the ValidatingWebhookConfiguration that owns the reports.
	owner string
	// resync is how often every namespace's reports are compared again and
	// stale ones pruned (the audit's full-pass interval).
	resync time.Duration
}

// detectInterval is how often the report APIs the cluster serves are
// looked up again.
const detectInterval = time.Minute

// runReports writes reports until ctx ends; ready closes when the audit's first
// full pass is complete.
func (a *auditor) runReports(ctx context.Context, ready <-chan struct{}) {
	r := a.reports
	select {
	case <-ctx.Done():
		return
	case <-ready:
	}
	r.writer.Owner = a.reportOwner(ctx)
	r.writer.Detect()
	a.pruneReports(ctx)
	a.store.markDirty()
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	last, detected := time.Now(), time.Now()
	for {
		// A report API installed later is found within a minute; asking
		// more often would cost a discovery request per missing API.
		appeared := false
		if time.Since(detected) >= detectInterval {
			detected, appeared = time.Now(), len(r.writer.Detect()) > 0
		}
		if appeared || time.Since(last) >= r.resync {
			last = time.Now()
			a.pruneReports(ctx)
			a.store.markDirty()
		}
		dirty := a.store.takeDirty()
		results := a.store.results(dirty, a.apiVersion)
		for _, ns := range dirty {
			if err := r.writer.Sync(ctx, ns, results[ns]); err != nil {
				a.log.Error(err, "could not write a policy report; retrying at the next interval", "namespace", ns)
				a.store.markDirty(ns)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pruneReports deletes the reports of namespaces that have no findings.
func (a *auditor) pruneReports(ctx context.Context) {
	with := a.store.namespaces()
	if err := a.reports.writer.Prune(ctx, func(ns string) bool { return with[ns] }); err != nil {
		a.log.Error(err, "could not prune stale policy reports; retrying at the next resync")
	}
}

// reportOwner is the owner reference to the ValidatingWebhookConfiguration
// named by --policy-reports-owner, or nil (reports then outlive an
// uninstall, and the log says so).
func (a *auditor) reportOwner(ctx context.Context) *metav1.OwnerReference {
	name := a.reports.owner
	if name == "" {
		return nil
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := a.reports.writer.Reader.Get(ctx, client.ObjectKey{Name: name}, vwc); err != nil {
		a.log.Error(err, "policy reports get no owner, so uninstalling meshguard will not remove them", "validatingWebhookConfiguration", name)
		return nil
	}
	return &metav1.OwnerReference{
		APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingWebhookConfiguration",
		Name: vwc.Name, UID: vwc.UID,
	}
}

// apiVersion is the API version the audit reads kind in.
func (a *auditor) apiVersion(kind string) string {
	return a.eval.targets[kind].gvk.GroupVersion().String()
}
