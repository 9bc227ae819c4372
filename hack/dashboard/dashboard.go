// Command dashboard writes meshguard's Grafana dashboard as JSON: the panels
// an operator of an admission webhook looks at (decisions, denials and
// would-denies, review latency, errors, what the audit finds, certificate
// expiry, audit freshness), over the series meshguard exports; with -alerts,
// the expressions of the chart's alerts, built from the same queries.
//
//	go run ./hack/dashboard > deploy/grafana/meshguard.json                       (make dashboard)
//	go run ./hack/dashboard -alerts > deploy/charts/meshguard/files/alerts/expressions.yaml
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func main() {
	alerts := flag.Bool("alerts", false, "write the chart's alert expressions instead of the dashboard")
	flag.Parse()
	if *alerts {
		os.Stdout.Write(renderAlerts())
		return
	}
	out, err := render()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}

// render returns the dashboard as indented JSON with a final newline.
func render() ([]byte, error) {
	d, err := build().Build()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// datasource is the dashboard's Prometheus, chosen by the $datasource variable.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

func build() *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder("meshguard").
		Uid("meshguard").
		Description("meshguard, the admission webhook guarding an Istio migration: what it decides, how fast, what the background audit finds, and whether its certificate and audit are healthy.").
		Tags([]string{"meshguard", "istio", "admission"}).
		Refresh("1m").
		Time("now-6h", "now").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus")).
		WithVariable(labelVariable("job", "Job", `label_values(meshguard_decisions_total, job)`)).
		WithVariable(labelVariable("namespace", "Namespace", `label_values(meshguard_decisions_total{job=~"$job"}, namespace)`)).
		WithRow(dashboard.NewRowBuilder("Admission")).
		WithPanel(series("Decisions by rule", "Every decision meshguard took, per rule: allowed, denied, mutated, exempt, error, and what audit mode would have done (would_deny, would_mutate).", "reqps",
			target(Decisions, "{{rule}} {{decision}}"))).
		WithPanel(single("Denied (1h)", "Writes enforce mode denied in the last hour.", "short", Denied)).
		WithPanel(single("Would deny in audit (1h)", "Writes audit mode let through that enforce mode would deny: fix or exempt them before enforcing.", "short", WouldDeny)).
		WithPanel(series("Review latency", "p50 and p99 of the time meshguard took to answer the API server, per path. Every covered write waits for it.", "s",
			target(LatencyP50, "p50 {{webhook}}"), target(LatencyP99, "p99 {{webhook}}"))).
		WithPanel(series("Errors and rejections", "Non-2xx answers per path and status, reviews that failed inside a rule, and reviews refused for load or time (failurePolicy decided all of these).", "reqps",
			target(HTTPErrors, "{{webhook}} {{code}}"), target(RuleErrors, "error {{rule}}"), target(Rejected, "rejected {{reason}}"))).
		WithPanel(series("Rule time p99", "The slowest rule shows by name.", "s", target(RuleP99, "{{rule}}"))).
		WithRow(dashboard.NewRowBuilder("Existing objects (background audit)")).
		WithPanel(series("Violations by rule and namespace", "Existing objects enforce mode would deny or change. A rule can be enforced once its series are gone. (The object's namespace is exported_namespace: Prometheus keeps the scrape target's own namespace label.)", "short",
			target(Violations, "{{rule}} {{exported_namespace}}"))).
		WithPanel(single("Audit freshness", "Time since the audit last finished a full pass; well over its interval means it is stuck (alert MeshguardAuditStale).", "s", AuditAge)).
		WithPanel(series("Objects audited", "Objects of each kind the last full pass evaluated.", "short", target(AuditObjects, "{{kind}}"))).
		WithPanel(series("Reports and Events", "Policy report writes (none while nothing changes) and Kubernetes Events, recorded or dropped.", "ops",
			target(ReportWrites, "report {{operation}}"), target(Events, "event {{result}}"))).
		WithRow(dashboard.NewRowBuilder("Compiled admission policies (engine cel/auto)")).
		WithPanel(series("Compiled policies in place", "1 for each policy and binding the leader compiled and the API server holds as written; 0 means the rule is enforced as last written, or not at all (alert MeshguardCompiledPolicyFailing). Empty with engine webhook.", "short",
			target(CompiledReady, "{{kind}} {{name}}"))).
		WithRow(dashboard.NewRowBuilder("Serving certificate")).
		WithPanel(single("Certificate expires in", "Time until the certificate meshguard serves expires (alert MeshguardCertificateExpiresSoon).", "dtdurations", CertExpiry))
}

func labelVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).Label(label).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Datasource(datasource).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Multi(true).IncludeAll(true).AllValue(".*")
}

func target(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend).Datasource(datasource)
}

func series(title, description, unit string, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Description(description).Unit(unit).
		Datasource(datasource).Span(12).Height(8).Min(0)
	for _, t := range targets {
		p.WithTarget(t)
	}
	return p
}

func single(title, description, unit, expr string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Description(description).Unit(unit).
		Datasource(datasource).Span(6).Height(4).
		WithTarget(target(expr, "").Instant())
}
