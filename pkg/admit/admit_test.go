package admit_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/meshguard/meshguard/pkg/admit"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/policy"
)

// rule is a ConfigMap rule whose findings depend on the object it sees.
type rule struct {
	id    string
	check func(data map[string]string, annotations map[string]string) ([]policy.Finding, error)
}

func (r rule) ID() string { return r.id }
func (r rule) Match() policy.Match {
	return policy.One(policy.Kind{Versions: []string{"v1"}, Resource: "configmaps", Kind: "ConfigMap"}, policy.Writes, false)
}

// Validate and Mutate both run the rule, so a test puts it on either side.
func (r rule) Validate(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	return r.Mutate(ctx, req)
}

func (r rule) Mutate(_ context.Context, req *policy.Request) ([]policy.Finding, error) {
	var cm struct {
		policy.ObjectHead
		Data map[string]string `json:"data"`
	}
	if err := req.Decode(&cm); err != nil {
		return nil, err
	}
	return r.check(cm.Data, cm.Metadata.Annotations)
}

var (
	changer = rule{"changer", func(data, _ map[string]string) ([]policy.Finding, error) {
		if data["a"] == "c" {
			return nil, nil
		}
		return []policy.Finding{
			{Severity: policy.Change, Message: "a: b → c", Patch: []jsonpatch.Operation{jsonpatch.NewOperation("replace", "/data/a", "c")}},
			{Severity: policy.Skipped, Message: "left key z alone"},
		}, nil
	}}
	// seer reports what the validating rules see: the mutated object.
	seer = rule{"seer", func(data, annotations map[string]string) ([]policy.Finding, error) {
		return []policy.Finding{policy.Deny("a is " + data["a"]), policy.Warn("mutated by " + annotations[policy.MutatedAnnotation])}, nil
	}}
	exempted = rule{"exempted", func(map[string]string, map[string]string) ([]policy.Finding, error) {
		return []policy.Finding{policy.Deny("never shown")}, nil
	}}
	failing = rule{"failing", func(map[string]string, map[string]string) ([]policy.Finding, error) {
		return nil, errors.New("cannot read the cluster")
	}}
)

func rules(validating, mutating []rule) admit.RuleSet {
	var rs policy.Rules
	for _, r := range validating {
		rs.Validating = append(rs.Validating, r)
	}
	for _, r := range mutating {
		rs.Mutating = append(rs.Mutating, r)
	}
	return func(cluster.Reader) policy.Rules { return rs }
}

const object = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web","namespace":"shop","annotations":{"meshguard.dev/exempt":"exempted,seer","meshguard.dev/exempt-reason":"trusted"}},"data":{"a":"b"}}`

func review(t *testing.T, o admit.Options) (*admit.Result, error) {
	t.Helper()
	return admit.NewReviewer(cluster.Reader{}, o).Review(context.Background(),
		admit.Object{APIVersion: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "web", Raw: []byte(object)})
}

func TestValidatingRulesSeeTheMutatedObject(t *testing.T) {
	res, err := review(t, admit.Options{Rules: rules([]rule{seer, exempted}, []rule{changer}), AllowExemptions: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Path != "/data/a" {
		t.Errorf("changes %+v, want the rule's operation without the mutated annotation", res.Changes)
	}
	got := res.Findings()
	want := []admit.Finding{
		{Rule: "changer", Severity: policy.Change, Message: "a: b → c"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings %+v, want %+v (seer and exempted are exempt)", got, want)
	}
	if d := res.Validating.Rules[0]; d.ID != "seer" || d.Findings[0].Message != "a is c" || d.Findings[1].Message != "mutated by changer" {
		t.Errorf("the validating rules saw %+v, want the patched object", d)
	}
}

func TestAFailingEngineLeavesTheOtherVerdict(t *testing.T) {
	res, err := review(t, admit.Options{Rules: rules([]rule{exempted}, []rule{changer, failing}), AllowExemptions: true})
	if err == nil || res == nil || res.Mutating != nil || res.Validating == nil || res.Changes != nil {
		t.Fatalf("result %+v, error %v: want no mutating verdict, an unpatched validating one, and the error", res, err)
	}
	if res, err := review(t, admit.Options{Rules: rules([]rule{failing}, []rule{changer}), Off: []string{"failing"}, AllowExemptions: true}); err != nil || len(res.Findings()) != 1 {
		t.Errorf("a rule that is off still runs: %+v, %v", res, err)
	}
}

func TestFindingsCarryTheExemptionNoteOnDenials(t *testing.T) {
	res, err := review(t, admit.Options{Rules: rules([]rule{seer}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	note := "(the object asks for an exemption from seer, but exemptions are turned off on this cluster; ask the cluster admins)"
	want := []admit.Finding{
		{Rule: "seer", Severity: policy.Violation, Message: "a is b " + note},
		{Rule: "seer", Severity: policy.Advice, Message: "mutated by "},
	}
	if got := res.Findings(); !slices.Equal(got, want) {
		t.Errorf("findings %+v, want %+v", got, want)
	}
}
