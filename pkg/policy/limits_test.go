package policy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// many returns n findings of severity s, each with a distinct message and,
// for changes, a patch of size bytes.
func many(n int, s policy.Severity, size int) func(*policy.Request) ([]policy.Finding, error) {
	f := make([]policy.Finding, n)
	for i := range f {
		f[i] = policy.Finding{Severity: s, Message: fmt.Sprintf("finding %d", i)}
		if s == policy.Change {
			f[i].Patch = []jsonpatch.Operation{jsonpatch.NewOperation("replace", fmt.Sprintf("/data/k%d", i), strings.Repeat("x", size))}
		}
	}
	return finds(f...)
}

func limited(t *testing.T, mode policy.Mode, l *policy.Limits, rules ...stubRule) (*admissionv1.AdmissionResponse, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := policy.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(policy.Config{Rules: mutating(rules...), Modes: policy.Modes{Default: mode}, Metrics: m, Log: logr.Discard(), Limits: l})
	return reviewtest.Send(t, &review.Handler{Reviewer: e, Log: logr.Discard()}, reviewtest.Req{Op: admissionv1.Create, Object: []byte(cm)}), reg
}

func TestResponsesStayWithinTheLimits(t *testing.T) {
	def := policy.DefaultLimits()
	t.Run("80,000 warnings become the first ones and a line counting the rest by rule", func(t *testing.T) {
		resp, _ := limited(t, policy.Audit, nil,
			stubRule{"changer", many(80_000, policy.Change, 1)}, stubRule{"adviser", many(5, policy.Advice, 0)})
		if len(resp.Warnings) != def.Warnings {
			t.Fatalf("%d warnings, want %d", len(resp.Warnings), def.Warnings)
		}
		if got := resp.Warnings[0]; got != "[changer] (audit) would change (not applied): finding 0" {
			t.Errorf("first warning %q", got)
		}
		want := fmt.Sprintf("[meshguard] %d more warnings not shown (79985 from changer, 5 from adviser): a response carries at most 16", 80_005-15)
		if got := resp.Warnings[len(resp.Warnings)-1]; got != want {
			t.Errorf("last warning\n%q\nwant\n%q", got, want)
		}
		a := resp.AuditAnnotations["changer"]
		if len(a) > def.MessageBytes+64 || !strings.HasPrefix(a, "would change: finding 0; would change: finding 1") || !strings.HasSuffix(a, " more") {
			t.Errorf("audit annotation of %d bytes: %.120q … %q", len(a), a, a[max(0, len(a)-40):])
		}
	})
	t.Run("a long message is cut at a character boundary and says how much was cut", func(t *testing.T) {
		msg := strings.Repeat("é", 10_000) // two bytes each: a cut at an odd offset must back off
		resp, _ := limited(t, policy.Enforce, &policy.Limits{MessageBytes: 1000}, stubRule{"denier", finds(policy.Deny(msg))})
		got := resp.Result.Message
		if !utf8.ValidString(got) || !strings.HasPrefix(got, "[denier] é") || !strings.HasSuffix(got, " more bytes not shown)") || len(got) > 1100 {
			t.Fatalf("denial of %d bytes: %.60q … %q", len(got), got, got[len(got)-40:])
		}
		// "[denier] " is 9 bytes, so byte 1000 is the second of a two-byte é: the cut backs off to 999
		if want := fmt.Sprintf("é … (%d more bytes not shown)", len("[denier] ")+len(msg)-999); !strings.HasSuffix(got, want) {
			t.Errorf("denial ends %q, want %q", got[len(got)-40:], want)
		}
	})
	t.Run("denials are capped like warnings", func(t *testing.T) {
		resp, _ := limited(t, policy.Enforce, nil, stubRule{"denier", many(100, policy.Violation, 0)})
		if n := strings.Count(resp.Result.Message, "[denier] finding "); n != def.Warnings-1 {
			t.Errorf("%d denials shown, want %d", n, def.Warnings-1)
		}
		if !strings.HasSuffix(resp.Result.Message, "; [meshguard] 85 more denials not shown (85 from denier): a response carries at most 16") {
			t.Errorf("denial ends %q", resp.Result.Message[len(resp.Result.Message)-100:])
		}
	})
	t.Run("a patch over the limit changes nothing and says so", func(t *testing.T) {
		resp, reg := limited(t, policy.Enforce, &policy.Limits{PatchBytes: 1 << 20},
			stubRule{"big", many(3, policy.Change, 400<<10)}, stubRule{"small", finds(change)})
		var ops []map[string]any
		if err := json.Unmarshal(resp.Patch, &ops); err != nil {
			t.Fatalf("patch %.200s: %v", resp.Patch, err)
		}
		if len(ops) != 2 || ops[0]["path"] != "/data/a" || ops[1]["value"].(map[string]any)["meshguard.dev/mutated"] != "small" {
			t.Fatalf("want only the small rule's patch and its annotation, got %.300s", resp.Patch)
		}
		size := 0
		for i := range 3 { // each operation as sent, and the comma after it
			size += len(fmt.Sprintf(`{"op":"replace","path":"/data/k%d","value":"%s"}`, i, strings.Repeat("x", 400<<10))) + 1
		}
		want := fmt.Sprintf("[big] the object was left unchanged: its changes make a JSON patch of %d bytes, over the 1048576-byte limit of one response; make them in your source manifest: finding 0", size)
		if resp.Warnings[0] != want {
			t.Errorf("warning\n%q\nwant\n%q", resp.Warnings[0], want)
		}
		if got := testutil.ToFloat64(skipped(t, reg, "big")); got != 1 {
			t.Errorf("skipped{rule=big} = %v, want 1", got)
		}
	})
	t.Run("no limits report everything", func(t *testing.T) {
		resp, _ := limited(t, policy.Audit, &policy.Limits{}, stubRule{"changer", many(100, policy.Change, 1)})
		if len(resp.Warnings) != 100 {
			t.Errorf("%d warnings, want all 100", len(resp.Warnings))
		}
	})
}
