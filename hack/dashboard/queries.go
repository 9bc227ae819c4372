package main

// sel selects meshguard's series through the dashboard's job and namespace
// variables (the scrape target's labels, as the chart's alerts select them).
const sel = `job=~"$job", namespace=~"$namespace"`

// The dashboard's queries. test/alerts parses every expression of the
// generated JSON with Prometheus's own parser.
const (
	Decisions  = `sum by (rule, decision) (rate(meshguard_decisions_total{` + sel + `}[$__rate_interval]))`
	Denied     = `sum(increase(meshguard_decisions_total{` + sel + `, decision="denied"}[1h]))`
	WouldDeny  = `sum(increase(meshguard_decisions_total{` + sel + `, decision="would_deny"}[1h]))`
	LatencyP50 = `histogram_quantile(0.5, sum by (le, webhook) (rate(controller_runtime_webhook_latency_seconds_bucket{` + sel + `}[$__rate_interval])))`
	LatencyP99 = `histogram_quantile(0.99, sum by (le, webhook) (rate(controller_runtime_webhook_latency_seconds_bucket{` + sel + `}[$__rate_interval])))`
	HTTPErrors = `sum by (webhook, code) (rate(controller_runtime_webhook_requests_total{` + sel + `, code!~"2.."}[$__rate_interval]))`
	RuleErrors = `sum by (rule) (rate(meshguard_decisions_total{` + sel + `, decision="error"}[$__rate_interval]))`
	Rejected   = `sum by (reason) (rate(meshguard_rejected_total{` + sel + `}[$__rate_interval]))`
	RuleP99    = `histogram_quantile(0.99, sum by (le, rule) (rate(meshguard_rule_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`
	// meshguard_violations' own namespace label becomes exported_namespace
	// when Prometheus scrapes it (the target's namespace wins).
	Violations   = `sum by (rule, exported_namespace) (meshguard_violations{` + sel + `})`
	AuditAge     = `time() - max(meshguard_audit_last_pass_timestamp_seconds{` + sel + `})`
	AuditObjects = `sum by (kind) (meshguard_audit_objects{` + sel + `})`
	ReportWrites = `sum by (operation) (rate(meshguard_report_writes_total{` + sel + `}[$__rate_interval]))`
	Events       = `sum by (result) (rate(meshguard_events_total{` + sel + `}[$__rate_interval]))`
	CertExpiry   = `min(meshguard_cert_expiry_timestamp_seconds{` + sel + `}) - time()`
	// engine cel/auto: 1 per compiled policy object in place, 0 when not.
	CompiledReady = `min by (kind, name) (meshguard_compiled_policy_ready{` + sel + `})`
)
