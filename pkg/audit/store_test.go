package audit

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshguard/meshguard/pkg/admit"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
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
	ing := Ref{Kind: "Ingress", Namespace: "app", Name: "web"}
	deny := admit.Finding{Rule: "ingress-in-mesh", Severity: policy.Violation, Message: "no"}
	advice := admit.Finding{Rule: "ingress-in-mesh", Severity: policy.Advice, Message: "consider gateway api"}
	first := *now

	s.set(ing, []admit.Finding{deny, advice})
	*now = now.Add(time.Hour)
	s.set(ing, []admit.Finding{deny, advice}) // a resync that changes nothing

	if n := strings.Count(strings.Join(*lines, "\n"), `"new finding"`); n != 2 {
		t.Fatalf("new-finding log lines = %d, want 2 (one per finding, not per resync): %q", n, *lines)
	}
	r := s.report()
	if len(r.Findings) != 2 {
		t.Fatalf("findings = %+v, want the denial and the advice", r.Findings)
	}
	bySeverity := map[string]Finding{}
	for _, f := range r.Findings {
		bySeverity[f.Severity] = f
	}
	if got := bySeverity["deny"]; !got.Since.Equal(first) || got.Ref != ing {
		t.Errorf("findings = %+v, want a denial since %v", r.Findings, first)
	}
	if got := bySeverity["warn"]; got.Message != advice.Message {
		t.Errorf("findings = %+v, want the advice as a warning", r.Findings)
	}
	if v := testutil.ToFloat64(gauge.WithLabelValues("ingress-in-mesh", "app")); v != 1 {
		t.Errorf("gauge = %v, want 1", v)
	}
}

func TestStoreCountsObjectsAndClears(t *testing.T) {
	s, gauge, lines, _ := newTestStore()
	a := Ref{Kind: "ConfigMap", Namespace: "app", Name: "a"}
	b := Ref{Kind: "ConfigMap", Namespace: "app", Name: "b"}
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
	s.set(Ref{Kind: "Ingress", Namespace: "b", Name: "x"}, []admit.Finding{{Rule: "ingress-in-mesh", Severity: policy.Violation, Message: "m"}})
	s.set(Ref{Kind: "Ingress", Namespace: "a", Name: "y"}, []admit.Finding{{Rule: "ingress-in-mesh", Severity: policy.Violation, Message: "m"}})

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

func TestTargetsAreTheRulesDeclarations(t *testing.T) {
	if got := auditedKinds(t, metaRESTMapperWithoutIstio()); !slices.Equal(got, []string{"/v1, Kind=ConfigMap"}) {
		t.Errorf("audited kinds = %v, want ConfigMap alone: the mapper serves no Ingress or ServiceEntry", got)
	}
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Namespace"},
		{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, {Group: "networking.istio.io", Version: "v1beta1", Kind: "ServiceEntry"}} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	kinds, err := targets(auditRules(), policy.Modes{Default: policy.Audit}, m, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, k := range kinds {
		got[fmt.Sprintf("%s mesh-only=%v whole=%v", k.gvk, k.meshOnly, k.whole != nil)] = true
	}
	want := map[string]bool{
		"networking.k8s.io/v1, Kind=Ingress mesh-only=true whole=true": true,
		"/v1, Kind=ConfigMap mesh-only=true whole=false":               true,
		// The first declared version the cluster serves.
		"networking.istio.io/v1beta1, Kind=ServiceEntry mesh-only=false whole=false": true,
	}
	if !maps.Equal(got, want) {
		t.Errorf("targets = %v, want %v (Namespaces are watched for labels, never evaluated)", got, want)
	}
	off, err := targets(auditRules(), policy.Modes{Default: policy.Audit, PerRule: map[string]policy.Mode{"nginx-http11": policy.Off}}, m, logr.Discard())
	if err != nil || len(off) != 2 {
		t.Errorf("with nginx-http11 off, targets = %v (%v); want Ingress and ServiceEntry", off, err)
	}
}

// auditRules are meshguard's rules on an empty reader: their declarations
// are all the targets read.
func auditRules() []policy.Rule {
	return policy.Rules{
		Validating: []policy.Validator{validate.IngressInMesh{}, validate.NamespaceJoinsMesh{}},
		Mutating:   []policy.Mutator{mutate.NginxHTTP11{}, mutate.GCEMetadataAddress{}},
	}.All()
}

// auditedKinds lists the kinds targets derives from meshguard's rules on m.
func auditedKinds(t *testing.T, m meta.RESTMapper) []string {
	t.Helper()
	kinds, err := targets(auditRules(), policy.Modes{Default: policy.Audit}, m, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range kinds {
		out = append(out, k.gvk.String())
	}
	return out
}
