package mutate

import (
	"flag"
	"net/http"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// update rewrites golden files from the results (go test ./pkg/mutate -update);
// every golden test of this package passes it to golden.Run.
var update = flag.Bool("update", false, "rewrite testdata/*/*.golden.yaml from the results")

// handler serves the mutating webhook with one rule, exemptions allowed,
// and returns the registry of its metrics.
func handler(t testing.TB, modes policy.Modes, rule policy.Mutator) (http.Handler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := policy.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	engine := policy.NewEngine(policy.Config{Rules: policy.Rules{Mutating: []policy.Mutator{rule}}, Modes: modes, AllowExemptions: true, Metrics: m, Log: logr.Discard()})
	return &review.Handler{Reviewer: engine, Log: logr.Discard()}, reg
}
