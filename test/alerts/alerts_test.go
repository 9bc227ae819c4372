package alerts

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"sigs.k8s.io/yaml"
)

// sel are the labels every meshguard series carries when Prometheus scrapes
// the release "meshguard" in namespace "meshguard" through its ServiceMonitor.
const sel = `job="meshguard", namespace="meshguard"`

// alertCase is a unit test of one alert in promtool's notation: series in
// ("load 1m" lines), the alert's firing instances out at evalAt.
type alertCase struct {
	series string
	evalAt time.Duration
	// firing are the firing alerts' labels besides alertname and severity,
	// as "k=v,…" ("" for none); nil means none fires.
	firing []string
}

// cases has, for every alert in the chart, a case that fires it and one
// that must not (the healthy series).
var cases = map[string]map[string]alertCase{
	"MeshguardDown": {
		"fires when no replica is up for 5 minutes": {series: `up{` + sel + `} 0x20`, evalAt: 10 * time.Minute, firing: []string{""}},
		"fires when no replica is scraped at all":   {series: `up{job="other", namespace="meshguard"} 1x20`, evalAt: 10 * time.Minute, firing: []string{""}},
		"quiet while one is up":                     {series: `up{` + sel + `} 1x20`, evalAt: 10 * time.Minute},
	},
	"MeshguardReviewErrors": {
		"fires at 10% internal errors for 10 minutes": {series: `
meshguard_decisions_total{` + sel + `, rule="nginx-http11", mode="enforce", decision="error"} 0+10x30
controller_runtime_webhook_requests_total{` + sel + `, webhook="/mutate", code="200"} 0+100x30`, evalAt: 25 * time.Minute, firing: []string{""}},
		"quiet without errors": {series: `
meshguard_decisions_total{` + sel + `, rule="nginx-http11", mode="enforce", decision="error"} 0x30
controller_runtime_webhook_requests_total{` + sel + `, webhook="/mutate", code="200"} 0+100x30`, evalAt: 25 * time.Minute},
	},
	"MeshguardWebhookHTTPErrors": {
		"fires at 5% non-2xx for 10 minutes": {series: `
controller_runtime_webhook_requests_total{` + sel + `, webhook="/validate", code="500"} 0+5x30
controller_runtime_webhook_requests_total{` + sel + `, webhook="/validate", code="200"} 0+95x30`, evalAt: 25 * time.Minute, firing: []string{""}},
		"quiet at 0.5%": {series: `
controller_runtime_webhook_requests_total{` + sel + `, webhook="/validate", code="500"} 0+1x30
controller_runtime_webhook_requests_total{` + sel + `, webhook="/validate", code="200"} 0+199x30`, evalAt: 25 * time.Minute},
	},
	"MeshguardWebhookSlow": {
		"fires when p99 is above 0.5s for 15 minutes": {series: `
controller_runtime_webhook_latency_seconds_bucket{` + sel + `, webhook="/validate", le="0.1"} 0+10x40
controller_runtime_webhook_latency_seconds_bucket{` + sel + `, webhook="/validate", le="1"} 0+100x40
controller_runtime_webhook_latency_seconds_bucket{` + sel + `, webhook="/validate", le="+Inf"} 0+100x40`, evalAt: 30 * time.Minute, firing: []string{`webhook=/validate`}},
		"quiet when every review takes under 0.1s": {series: `
controller_runtime_webhook_latency_seconds_bucket{` + sel + `, webhook="/validate", le="0.1"} 0+100x40
controller_runtime_webhook_latency_seconds_bucket{` + sel + `, webhook="/validate", le="1"} 0+100x40
controller_runtime_webhook_latency_seconds_bucket{` + sel + `, webhook="/validate", le="+Inf"} 0+100x40`, evalAt: 30 * time.Minute},
	},
	"MeshguardCertificateExpiresSoon": {
		"fires for an hour with 3 days left": {series: `meshguard_cert_expiry_timestamp_seconds{` + sel + `} 259200x90`, evalAt: 80 * time.Minute, firing: []string{`job=meshguard,namespace=meshguard`}},
		"quiet with 30 days left":            {series: `meshguard_cert_expiry_timestamp_seconds{` + sel + `} 2592000x90`, evalAt: 80 * time.Minute},
	},
	"MeshguardAuditStale": {
		"fires when no pass has finished for over 3 hours": {series: `meshguard_audit_last_pass_timestamp_seconds{` + sel + `} 60x240`, evalAt: 3*time.Hour + 30*time.Minute, firing: []string{""}},
		"quiet while passes finish":                        {series: `meshguard_audit_last_pass_timestamp_seconds{` + sel + `} 0+60x240`, evalAt: 3*time.Hour + 30*time.Minute},
	},
	"MeshguardCompiledPolicyFailing": {
		"fires when a policy stays not ready for 10 minutes": {series: `
meshguard_compiled_policy_ready{` + sel + `, kind="ValidatingAdmissionPolicy", name="meshguard-ingress-in-mesh"} 0x30
meshguard_compiled_policy_ready{` + sel + `, kind="ValidatingAdmissionPolicyBinding", name="meshguard-ingress-in-mesh"} 1x30`, evalAt: 20 * time.Minute,
			firing: []string{`kind=ValidatingAdmissionPolicy,name=meshguard-ingress-in-mesh`}},
		"quiet after a short failure": {series: `
meshguard_compiled_policy_ready{` + sel + `, kind="ValidatingAdmissionPolicy", name="meshguard-ingress-in-mesh"} 0 0 0 1x27`, evalAt: 20 * time.Minute},
	},
	"MeshguardWouldDeny": {
		"fires per rule that would have denied": {series: `
meshguard_decisions_total{` + sel + `, rule="ingress-in-mesh", mode="audit", decision="would_deny"} 0+1x70
meshguard_decisions_total{` + sel + `, rule="nginx-http11", mode="audit", decision="would_mutate"} 0+1x70`, evalAt: time.Hour, firing: []string{`rule=ingress-in-mesh`}},
		"quiet when nothing would be denied": {series: `
meshguard_decisions_total{` + sel + `, rule="ingress-in-mesh", mode="audit", decision="would_deny"} 5x70`, evalAt: time.Hour},
	},
}

// TestEveryAlertAsPrometheusRunsIt loads the chart's PrometheusRule with
// Prometheus's own rule-file parser (expressions, labels, annotation
// templates), requires a case for every alert, and evaluates each case with
// Prometheus's engine and alerting rules, once a minute up to evalAt, as a
// rule group would.
func TestEveryAlertAsPrometheusRunsIt(t *testing.T) {
	groups := chartRules(t)
	var seen []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			seen = append(seen, r.Alert)
			tcs, ok := cases[r.Alert]
			if !ok {
				t.Errorf("alert %s has no test case: add it to cases", r.Alert)
				continue
			}
			for name, tc := range tcs {
				t.Run(r.Alert+"/"+name, func(t *testing.T) { runCase(t, r, tc) })
			}
		}
	}
	for name := range cases {
		if !slices.Contains(seen, name) {
			t.Errorf("cases test %s, which the chart no longer has", name)
		}
	}
}

func runCase(t *testing.T, r rulefmt.Rule, tc alertCase) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
	if err != nil {
		t.Fatal(err)
	}
	storage := promqltest.LoadedStorage(t, "load 1m\n"+strings.TrimSpace(tc.series))
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 1_000_000)
	rule := rules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
		labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true, slog.New(slog.DiscardHandler))
	query := rules.EngineQueryFunc(engine, storage)
	for at := time.Duration(0); at <= tc.evalAt; at += time.Minute {
		if _, err := rule.Eval(context.Background(), 0, time.Unix(0, 0).Add(at), query, nil, 0); err != nil {
			t.Fatalf("evaluating at %s: %v", at, err)
		}
	}
	var firing []string
	for _, a := range rule.ActiveAlerts() {
		if a.State != rules.StateFiring {
			continue
		}
		var kv []string
		a.Labels.Range(func(l labels.Label) {
			if l.Name != "alertname" && l.Name != "severity" {
				kv = append(kv, l.Name+"="+l.Value)
			}
		})
		firing = append(firing, strings.Join(kv, ","))
		for k, v := range a.Annotations.Map() {
			if strings.Contains(v, "<no value>") || strings.Contains(v, "{{") {
				t.Errorf("annotation %s expands to %q", k, v)
			}
		}
	}
	slices.Sort(firing)
	if !slices.Equal(firing, tc.firing) {
		t.Errorf("firing at %s: %q, want %q", tc.evalAt, firing, tc.firing)
	}
}

// chartRules renders the chart's PrometheusRule with helm and parses its
// groups as a Prometheus rule file, which validates every expression,
// label and annotation template.
func chartRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no helm in CI: run `eval \"$(bash hack/tools/build.sh)\"` and export HELM")
		}
		t.Skip("\n!!! SKIPPED: $HELM is not set, the chart's alerts are NOT tested." +
			"\n!!! Run `eval \"$(bash hack/tools/build.sh)\"; export HELM` and test again.")
	}
	out, err := exec.Command(helm, "template", "meshguard", filepath.Join("..", "..", "deploy", "charts", "meshguard"),
		"--namespace", "meshguard", "--set", "metrics.prometheusRule.enabled=true",
		"--show-only", "templates/prometheusrule.yaml").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	var pr struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(out, &pr); err != nil {
		t.Fatal(err)
	}
	file, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(file, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("Prometheus rejects the chart's rules: %v\n%s", errs, file)
	}
	if len(groups.Groups) == 0 {
		t.Fatalf("no rule groups in\n%s", out)
	}
	return groups
}
