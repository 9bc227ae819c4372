package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/pkg/policy"
)

func decide(t *testing.T, modes policy.Modes, object string, rules ...stubRule) (*policy.Verdict, *policy.Request) {
	t.Helper()
	e := policy.NewEngine(policy.Config{Rules: mutating(rules...), Modes: modes, AllowExemptions: true, Log: logr.Discard()})
	raw, err := yaml.YAMLToJSON([]byte(object))
	if err != nil {
		t.Fatal(err)
	}
	req := policy.NewRequest(&admissionv1.AdmissionRequest{Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}})
	req.Kind.Kind, req.Kind.Version = "ConfigMap", "v1"
	v, err := e.Decide(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return v, req
}

func TestVerdictSaysWhatEachRuleDecided(t *testing.T) {
	obj := strings.Replace(cm, "  namespace: shop\n", "  namespace: shop\n  annotations:\n    meshguard.dev/exempt: denier, waived\n    meshguard.dev/exempt-reason: \"\"\n", 1)
	v, req := decide(t, policy.Modes{Default: policy.Enforce, PerRule: map[string]policy.Mode{"auditor": policy.Audit, "off": policy.Off}}, obj,
		stubRule{"changer", finds(change)},
		stubRule{"denier", finds(policy.Deny("no"))},
		stubRule{"auditor", finds(policy.Deny("later"))},
		stubRule{"quiet", finds()},
		stubRule{"off", finds(policy.Deny("never asked"))},
	)
	type row struct {
		id       string
		mode     policy.Mode
		decision policy.Decision
		findings int
	}
	want := []row{
		{"changer", policy.Enforce, policy.Mutated, 1},
		{"denier", policy.Enforce, policy.Denied, 1},
		{"auditor", policy.Audit, policy.WouldDeny, 1},
		{"quiet", policy.Enforce, policy.Allowed, 0},
	}
	if len(v.Rules) != len(want) {
		t.Fatalf("%d rule verdicts, want %d (an off rule has none): %+v", len(v.Rules), len(want), v.Rules)
	}
	for i, w := range want {
		r := v.Rules[i]
		if got := (row{r.ID, r.Mode, r.Decision, len(r.Findings)}); got != w {
			t.Errorf("rule %d = %+v, want %+v", i, got, w)
		}
	}
	denier := &v.Rules[1]
	if denier.Exemption.Granted || !strings.Contains(denier.Exemption.Note, "not granted without a reason") {
		t.Errorf("exemption without a reason = %+v", denier.Exemption)
	}
	if got, want := denier.Message(denier.Findings[0]), "no "+denier.Exemption.Note; got != want {
		t.Errorf("denial as shown %q, want %q", got, want)
	}
	if !v.Denied() || v.Changes() != nil {
		t.Errorf("a denied request: Denied %v, Changes %v", v.Denied(), v.Changes())
	}
	if p, err := v.Patch(req); p != nil || err != nil {
		t.Errorf("a denied request carries patch %s (%v)", p, err)
	}
}

func TestVerdictChangesAreThePatchWithoutTheAnnotation(t *testing.T) {
	obj := strings.Replace(cm, "  namespace: shop\n", "  namespace: shop\n  annotations:\n    meshguard.dev/exempt: exempted\n    meshguard.dev/exempt-reason: owned elsewhere\n", 1)
	v, req := decide(t, policy.Modes{Default: policy.Enforce}, obj, stubRule{"changer", finds(change)}, stubRule{"exempted", finds(change)})
	if ex := v.Rules[1].Exemption; !ex.Granted || ex.Reason != "owned elsewhere" || v.Rules[1].Decision != policy.Exempt {
		t.Errorf("exempted rule = %+v", v.Rules[1])
	}
	ops := v.Changes()
	if len(ops) != 1 || ops[0].Path != "/data/a" {
		t.Fatalf("changes %+v, want only the unexempted rule's", ops)
	}
	patch, err := v.Patch(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := v.Response(req)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"replace","path":"/data/a","value":"c"},{"op":"add","path":"/metadata/annotations/meshguard.dev~1mutated","value":"changer"}]`
	if string(patch) != want || string(resp.Patch) != want {
		t.Errorf("patch %s, response patch %s, want %s", patch, resp.Patch, want)
	}
}
