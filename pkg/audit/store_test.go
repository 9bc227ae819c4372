package audit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshguard/meshguard/pkg/admit"
	"github.com/meshguard/meshguard/pkg/policy"
)

// newTestStore returns a store on a fresh gauge, its log lines and a clock
// the test moves.
func newTestStore() (*store, *prometheus.GaugeVec, *[]string, *time.Time) {
	var lines []string
	log := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{})
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meshguard_violations"}, []string{"rule", "namespace"})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return newStore(gauge, log, func() time.Time { return now }), gauge, &lines, &now
}

func TestStoreLogsNewFindingsOnceAndKeepsSince(t *testing.T) {
	s, gauge, lines, now := newTestStore()
	ing := Ref{Kind: kindIngress, Namespace: "app", Name: "web"}
	deny := admit.Finding{Rule: "ingress-in-mesh", Severity: policy.Violation, Message: "no"}
	advice := admit.Finding{Rule: "ingress-in-mesh", Severity: policy.Advice, Message: "consider gateway api"}
	first := *now

	s.set(ing, []admit.Finding{deny, advice})
	*now = now.Add(time.Hour)
	s.set(ing, []admit.Finding{deny, advice}) // a resync that changes nothing

	if n := strings.Count(strings.Join(*lines, "\n"), `"new finding"`); n != 1 {
		t.Fatalf("new-finding log lines = %d, want 1: %q", n, *lines)
	}
	r := s.report()
	if len(r.Findings) != 1 {
		t.Fatalf("findings = %+v, want only the denial (advice is not reported)", r.Findings)
	}
	if got := r.Findings[0]; !got.Since.Equal(first) || got.Severity != "deny" || got.Ref != ing {
		t.Errorf("finding = %+v, want since %v", got, first)
	}
	if v := testutil.ToFloat64(gauge.WithLabelValues("ingress-in-mesh", "app")); v != 1 {
		t.Errorf("gauge = %v, want 1", v)
	}
}

func TestStoreCountsObjectsAndClears(t *testing.T) {
	s, gauge, lines, _ := newTestStore()
	a := Ref{Kind: kindConfigMap, Namespace: "app", Name: "a"}
	b := Ref{Kind: kindConfigMap, Namespace: "app", Name: "b"}
	change := func(msg string) admit.Finding {
		return admit.Finding{Rule: "nginx-http11", Severity: policy.Change, Message: msg}
	}
	s.set(a, []admit.Finding{change("one"), change("two")})
	s.set(b, []admit.Finding{change("one")})
	if v := testutil.ToFloat64(gauge.WithLabelValues("nginx-http11", "app")); v != 2 {
		t.Fatalf("gauge = %v, want 2 (objects, not messages)", v)
	}
	s.set(a, nil)
	if v := testutil.ToFloat64(gauge.WithLabelValues("nginx-http11", "app")); v != 1 {
		t.Fatalf("gauge after fixing a = %v, want 1", v)
	}
	s.set(b, nil)
	if n := testutil.CollectAndCount(gauge); n != 0 {
		t.Errorf("series left after every object was fixed: %d", n)
	}
	if n := strings.Count(strings.Join(*lines, "\n"), `"finding cleared"`); n != 3 {
		t.Errorf("cleared log lines = %d, want 3: %q", n, *lines)
	}
	if len(s.refs()) != 0 || len(s.report().Findings) != 0 {
		t.Errorf("findings left: %+v", s.report())
	}
}

func TestReportEndpoint(t *testing.T) {
	s, _, _, _ := newTestStore()
	s.auditing.Store(true)
	s.set(Ref{Kind: kindIngress, Namespace: "b", Name: "x"}, []admit.Finding{{Rule: "ingress-in-mesh", Severity: policy.Violation, Message: "m"}})
	s.set(Ref{Kind: kindIngress, Namespace: "a", Name: "y"}, []admit.Finding{{Rule: "ingress-in-mesh", Severity: policy.Violation, Message: "m"}})

	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ReportPath, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %q", ReportPath, rec.Code, rec.Header().Get("Content-Type"))
	}
	var r Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Auditing || len(r.Findings) != 2 || r.Findings[0].Namespace != "a" {
		t.Errorf("report = %+v, want two findings, namespace a first", r)
	}
	for _, key := range []string{`"rule"`, `"kind"`, `"namespace"`, `"name"`, `"message"`, `"since"`} {
		if !strings.Contains(rec.Body.String(), key) {
			t.Errorf("report lacks %s: %s", key, rec.Body.String())
		}
	}

	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, ReportPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d, want 405", ReportPath, rec.Code)
	}
}

func TestServiceEntryVersionWithoutIstio(t *testing.T) {
	gvk, err := serviceEntryVersion(metaRESTMapperWithoutIstio())
	if err != nil || !gvk.Empty() {
		t.Errorf("serviceEntryVersion = %v, %v; want an empty kind and no error", gvk, err)
	}
}
