package main

// Every PromQL expression meshguard ships is written here once, over a
// scope: the selector of meshguard's series and the rate window. The
// dashboard fills them with its variables (dash); the chart's alerts with a
// placeholder the PrometheusRule template replaces by the Service's job and
// namespace, and a fixed window (alert, alerts.go). test/alerts parses every
// expression of both with Prometheus's own parser and evaluates the alerts.
type scope struct{ sel, window string }

// dash selects meshguard's series through the dashboard's job and namespace
// variables (the scrape target's labels, as the chart's alerts select them).
var dash = scope{sel: `job=~"$job", namespace=~"$namespace"`, window: "$__rate_interval"}

// rate is the per-second rate of counter over the scope's window, with
// more label matchers if any.
func (s scope) rate(counter, matchers string) string {
	if matchers != "" {
		matchers = ", " + matchers
	}
	return `rate(` + counter + `{` + s.sel + matchers + `}[` + s.window + `])`
}

// on is metric selected by the scope.
func (s scope) on(metric string) string { return metric + `{` + s.sel + `}` }

func (s scope) latency(q string) string {
	return `histogram_quantile(` + q + `, sum by (le, webhook) (` + s.rate("controller_runtime_webhook_latency_seconds_bucket", "") + `))`
}

// auditAge is how long ago the last audit pass finished.
func (s scope) auditAge() string {
	return `time() - max(` + s.on("meshguard_audit_last_pass_timestamp_seconds") + `)`
}

// compiledReady is, for engine cel/auto, 1 per compiled policy object in
// place and 0 when not.
func (s scope) compiledReady() string {
	return `min by (kind, name) (` + s.on("meshguard_compiled_policy_ready") + `)`
}

// errorShare is the share of the webhook's requests that the matchers of
// counter select: decisions that ended in error, or non-2xx answers.
func (s scope) errorShare(counter, matchers string) string {
	return `sum(` + s.rate(counter, matchers) + `)` + "\n  / sum(" + s.rate("controller_runtime_webhook_requests_total", "") + `)`
}

// The dashboard's queries.
var (
	Decisions  = `sum by (rule, decision) (` + dash.rate("meshguard_decisions_total", "") + `)`
	Denied     = `sum(increase(meshguard_decisions_total{` + dash.sel + `, decision="denied"}[1h]))`
	WouldDeny  = `sum(increase(meshguard_decisions_total{` + dash.sel + `, decision="would_deny"}[1h]))`
	LatencyP50 = dash.latency("0.5")
	LatencyP99 = dash.latency("0.99")
	HTTPErrors = `sum by (webhook, code) (` + dash.rate("controller_runtime_webhook_requests_total", `code!~"2.."`) + `)`
	RuleErrors = `sum by (rule) (` + dash.rate("meshguard_decisions_total", `decision="error"`) + `)`
	Rejected   = `sum by (reason) (` + dash.rate("meshguard_rejected_total", "") + `)`
	RuleP99    = `histogram_quantile(0.99, sum by (le, rule) (` + dash.rate("meshguard_rule_duration_seconds_bucket", "") + `))`
	// meshguard_violations' own namespace label becomes exported_namespace
	// when Prometheus scrapes it (the target's namespace wins).
	Violations    = `sum by (rule, exported_namespace) (` + dash.on("meshguard_violations") + `)`
	AuditAge      = dash.auditAge()
	AuditObjects  = `sum by (kind) (` + dash.on("meshguard_audit_objects") + `)`
	ReportWrites  = `sum by (operation) (` + dash.rate("meshguard_report_writes_total", "") + `)`
	Events        = `sum by (result) (` + dash.rate("meshguard_events_total", "") + `)`
	CertExpiry    = `min(` + dash.on("meshguard_cert_expiry_timestamp_seconds") + `) - time()`
	CompiledReady = dash.compiledReady()
)
