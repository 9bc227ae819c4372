package policy_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// stubRule is a mutating rule on ConfigMaps that returns what its function
// says; it may deny too, so one engine can show every decision.
type stubRule struct {
	id    string
	check func(req *policy.Request) ([]policy.Finding, error)
}

func (s stubRule) ID() string { return s.id }
func (s stubRule) Match() policy.Match {
	return policy.One(policy.Kind{Versions: []string{"v1"}, Resource: "configmaps", Kind: "ConfigMap"}, policy.Writes, false)
}
func (s stubRule) Mutate(_ context.Context, req *policy.Request) ([]policy.Finding, error) {
	return s.check(req)
}

// validatingStub is the same rule declared as validating.
type validatingStub struct{ stubRule }

func (s validatingStub) Validate(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	return s.Mutate(ctx, req)
}

// mutating puts stub rules in a rule list.
func mutating(rules ...stubRule) policy.Rules {
	var rs policy.Rules
	for _, r := range rules {
		rs.Mutating = append(rs.Mutating, r)
	}
	return rs
}

func finds(f ...policy.Finding) func(*policy.Request) ([]policy.Finding, error) {
	return func(*policy.Request) ([]policy.Finding, error) { return f, nil }
}

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: shop\ndata:\n  a: b\n"
const cmAnnotated = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: shop\n  annotations:\n    meshguard.dev/mutated: other-rule\ndata:\n  a: b\n"

var change = policy.Finding{Severity: policy.Change, Message: `key "a": b → c`,
	Patch: []jsonpatch.Operation{jsonpatch.NewOperation("replace", "/data/a", "c")}}

func setup(t *testing.T, modes policy.Modes, rules ...stubRule) (http.Handler, *prometheus.Registry) {
	t.Helper()
	return serve(t, modes, mutating(rules...))
}

func serve(t *testing.T, modes policy.Modes, rules policy.Rules) (http.Handler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := policy.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(policy.Config{Rules: rules, Modes: modes, AllowExemptions: true, Metrics: m, Log: logr.Discard()})
	return &review.Handler{Reviewer: e, Log: logr.Discard()}, reg
}

func TestMetricsCountEachDecisionOnce(t *testing.T) {
	rules := []stubRule{
		{"denier", finds(policy.Deny("no"))},
		{"changer", finds(change)},
		{"quiet", finds()},
		{"adviser", finds(policy.Warn("hm"), policy.Finding{Severity: policy.Skipped, Message: "too big"})},
	}
	h, reg := setup(t, policy.Modes{Default: policy.Audit, PerRule: map[string]policy.Mode{"changer": policy.Enforce}}, rules...)
	reviewtest.Send(t, h, reviewtest.Req{Op: admissionv1.Create, Object: []byte(cm)})
	reviewtest.Send(t, h, reviewtest.Req{Op: admissionv1.Create, Object: []byte(cm), DryRun: true})
	reviewtest.Send(t, h, reviewtest.Req{Op: admissionv1.Create, Object: []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n")})

	want := `
# HELP meshguard_decisions_total Admission decisions per rule and mode; dry-run requests are not counted.
# TYPE meshguard_decisions_total counter
meshguard_decisions_total{decision="allowed",mode="audit",rule="adviser"} 1
meshguard_decisions_total{decision="allowed",mode="audit",rule="quiet"} 1
meshguard_decisions_total{decision="mutated",mode="enforce",rule="changer"} 1
meshguard_decisions_total{decision="would_deny",mode="audit",rule="denier"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshguard_decisions_total"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(skipped(t, reg, "adviser")); got != 1 {
		t.Errorf("skipped{rule=adviser} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(skipped(t, reg, "")); got != 1 {
		t.Errorf("skipped{rule=\"\"} for the Secret no rule handles = %v, want 1", got)
	}
	// Every rule that ran is timed, dry runs included; the Secret no rule
	// handles times none.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	timed := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() == "meshguard_rule_duration_seconds" {
			for _, m := range mf.GetMetric() {
				timed[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	if want := map[string]uint64{"denier": 2, "changer": 2, "quiet": 2, "adviser": 2}; !maps.Equal(timed, want) {
		t.Errorf("meshguard_rule_duration_seconds samples = %v, want %v", timed, want)
	}
}

func skipped(t *testing.T, reg *prometheus.Registry, rule string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != "meshguard_skipped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == rule {
				g.Set(m.GetCounter().GetValue())
			}
		}
	}
	return g
}

func TestEngineModes(t *testing.T) {
	tests := map[string]struct {
		mode      policy.Mode
		object    string
		allowed   bool
		patch     string
		warnings  []string
		annotated bool
	}{
		"enforce patches and records the rule on the object": {
			mode: policy.Enforce, object: cm, allowed: true,
			patch:    `[{"op":"replace","path":"/data/a","value":"c"},{"op":"add","path":"/metadata/annotations","value":{"meshguard.dev/mutated":"changer"}}]`,
			warnings: []string{`[changer] key "a": b → c`}},
		"enforce merges with rules recorded by an earlier pass": {
			mode: policy.Enforce, object: cmAnnotated, allowed: true,
			patch: `[{"op":"replace","path":"/data/a","value":"c"},{"op":"add","path":"/metadata/annotations/meshguard.dev~1mutated","value":"other-rule,changer"}]`},
		"audit shows the would-be change and patches nothing": {
			mode: policy.Audit, object: cm, allowed: true, annotated: true,
			warnings: []string{`[changer] (audit) would change (not applied): key "a": b → c`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h, _ := setup(t, policy.Modes{Default: tc.mode}, stubRule{"changer", finds(change)})
			resp := reviewtest.Send(t, h, reviewtest.Req{Op: admissionv1.Create, Object: []byte(tc.object)})
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v", resp.Allowed)
			}
			if string(resp.Patch) != tc.patch {
				t.Fatalf("patch = %s\nwant   %s", resp.Patch, tc.patch)
			}
			if tc.patch != "" && (resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch) {
				t.Fatalf("patch type = %v", resp.PatchType)
			}
			for _, w := range tc.warnings {
				if !strings.Contains(strings.Join(resp.Warnings, "\n"), w) {
					t.Errorf("warnings %q lack %q", resp.Warnings, w)
				}
			}
			if got := resp.AuditAnnotations["changer"] != ""; got != tc.annotated {
				t.Errorf("audit annotation present = %v, want %v", got, tc.annotated)
			}
		})
	}
}

func TestDenialWinsOverPatches(t *testing.T) {
	h, _ := setup(t, policy.Modes{Default: policy.Enforce}, stubRule{"changer", finds(change)}, stubRule{"denier", finds(policy.Deny("because"))})
	resp := reviewtest.Send(t, h, reviewtest.Req{Op: admissionv1.Create, Object: []byte(cm)})
	if resp.Allowed || len(resp.Patch) != 0 || resp.Result.Message != "[denier] because" {
		t.Fatalf("want a plain denial without patch, got allowed=%v patch=%s result=%+v", resp.Allowed, resp.Patch, resp.Result)
	}
}

func TestPanicsAndErrorsAreHTTP5xx(t *testing.T) {
	for name, tc := range map[string]struct {
		rule policy.Mutator
		code int
	}{
		"a rule that panics":                      {stubRule{"boom", func(*policy.Request) ([]policy.Finding, error) { panic("index out of range") }}, http.StatusInternalServerError},
		"a rule that cannot read the cluster":     {stubRule{"boom", func(*policy.Request) ([]policy.Finding, error) { return nil, errors.New("namespaces forbidden") }}, http.StatusInternalServerError},
		"a rule out of time":                      {stubRule{"boom", func(*policy.Request) ([]policy.Finding, error) { return nil, context.DeadlineExceeded }}, http.StatusServiceUnavailable},
		"a validating rule that returns a change": {validatingStub{stubRule{"boom", finds(change)}}, http.StatusInternalServerError},
	} {
		t.Run(name, func(t *testing.T) {
			rules := policy.Rules{Mutating: []policy.Mutator{tc.rule}}
			if v, ok := tc.rule.(policy.Validator); ok {
				rules = policy.Rules{Validating: []policy.Validator{v}}
			}
			h, reg := serve(t, policy.Modes{Default: policy.Enforce}, rules)
			code, _ := reviewtest.Post(t, h, reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte(cm)}))
			if code != tc.code {
				t.Fatalf("HTTP %d, want %d so failurePolicy decides", code, tc.code)
			}
			n, err := testutil.GatherAndCount(reg, "meshguard_decisions_total")
			if err != nil || n != 1 {
				t.Fatalf("want one error decision series, got %d (%v)", n, err)
			}
			want := "\n# HELP meshguard_decisions_total Admission decisions per rule and mode; dry-run requests are not counted.\n# TYPE meshguard_decisions_total counter\nmeshguard_decisions_total{decision=\"error\",mode=\"enforce\",rule=\"boom\"} 1\n"
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshguard_decisions_total"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestExemptionIsCounted(t *testing.T) {
	obj := strings.Replace(cm, "  namespace: shop\n", "  namespace: shop\n  annotations:\n    meshguard.dev/exempt: denier\n    meshguard.dev/exempt-reason: migration window\n", 1)
	h, reg := setup(t, policy.Modes{Default: policy.Enforce}, stubRule{"denier", finds(policy.Deny("no"))})
	resp := reviewtest.Send(t, h, reviewtest.Req{Op: admissionv1.Create, Object: []byte(obj)})
	if !resp.Allowed {
		t.Fatalf("exempt object denied: %+v", resp.Result)
	}
	want := "\n# HELP meshguard_decisions_total Admission decisions per rule and mode; dry-run requests are not counted.\n# TYPE meshguard_decisions_total counter\nmeshguard_decisions_total{decision=\"exempt\",mode=\"enforce\",rule=\"denier\"} 1\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshguard_decisions_total"); err != nil {
		t.Fatal(err)
	}
}
