package alerts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestDashboardQueriesParse: every expression of the Grafana dashboard is
// PromQL that Prometheus's own parser accepts, once Grafana's variables
// are filled in as Grafana fills them.
func TestDashboardQueriesParse(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "meshguard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*", "$namespace", ".*")
	p := parser.NewParser(parser.Options{})
	n := 0
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				n++
				if _, err := p.ParseExpr(vars.Replace(e)); err != nil {
					t.Errorf("%s: %v", e, err)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(d)
	if n < 10 {
		t.Errorf("found %d expressions in the dashboard, want its panels' queries", n)
	}
}
