package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestCheckedInDashboardsAreGenerated: deploy/grafana/meshguard.json and
// the chart's copy are what the generator writes now (run `make dashboard`).
func TestCheckedInDashboardsAreGenerated(t *testing.T) {
	want, err := render()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		filepath.Join("..", "..", "deploy", "grafana", "meshguard.json"),
		filepath.Join("..", "..", "deploy", "charts", "meshguard", "files", "grafana", "meshguard.json"),
	} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output: run `make dashboard`", path)
		}
	}
}

// TestCheckedInAlertExpressionsAreGenerated: the chart's alert expressions
// are what the generator writes now (run `make dashboard`), and every alert
// of the PrometheusRule template takes its expression from them.
func TestCheckedInAlertExpressionsAreGenerated(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "charts", "meshguard", "files", "alerts", "expressions.yaml")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, renderAlerts()) {
		t.Errorf("%s differs from the generator's output: run `make dashboard`", path)
	}
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "deploy", "charts", "meshguard", "templates", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllSubmatch(tmpl, -1)
	if len(alerts) != len(alertExpressions) {
		t.Errorf("the template has %d alerts, the generator %d", len(alerts), len(alertExpressions))
	}
	for i, a := range alertExpressions {
		if i < len(alerts) && string(alerts[i][1]) != a.alert {
			t.Errorf("alert %d is %s in the template, %s in the generator", i, alerts[i][1], a.alert)
		}
		if !bytes.Contains(tmpl, []byte(`index $expr "`+a.alert+`"`)) {
			t.Errorf("the template does not take %s's expression from files/alerts/expressions.yaml", a.alert)
		}
	}
	if n := bytes.Count(tmpl, []byte("expr:")); n != len(alertExpressions) {
		t.Errorf("the template has %d expr: fields, want %d, each from the generated file", n, len(alertExpressions))
	}
}
