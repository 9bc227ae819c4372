package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestPoliciesPrintsTheCompiledPolicy: the policy, its binding and the
// parameters, as YAML, with the mode's actions and failure policy.
func TestPoliciesPrintsTheCompiledPolicy(t *testing.T) {
	for _, tc := range []struct {
		mode, failure, actions, notFound string
	}{
		{"enforce", "Fail", "[Deny]", "Deny"},
		{"audit", "Ignore", "[Warn Audit]", "Allow"},
	} {
		var out, errOut bytes.Buffer
		if code := run([]string{"policies", "--mode", tc.mode, "--name", "mg", "--namespace", "mg-system"}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.mode, code, errOut.String())
		}
		docs := strings.Split(out.String(), "---\n")
		if len(docs) != 3 {
			t.Fatalf("%s: %d documents, want a policy, a binding and the parameters:\n%s", tc.mode, len(docs), out.String())
		}
		var policy, binding, params map[string]any
		for i, v := range []*map[string]any{&policy, &binding, &params} {
			if err := yaml.Unmarshal([]byte(docs[i]), v); err != nil {
				t.Fatal(err)
			}
		}
		spec := func(m map[string]any) map[string]any { return m["spec"].(map[string]any) }
		if policy["kind"] != "ValidatingAdmissionPolicy" || spec(policy)["failurePolicy"] != tc.failure {
			t.Errorf("%s: policy %v failurePolicy %v", tc.mode, policy["kind"], spec(policy)["failurePolicy"])
		}
		ref := spec(binding)["paramRef"].(map[string]any)
		if got := fmt.Sprint(spec(binding)["validationActions"]); got != tc.actions ||
			ref["name"] != "mg-policy-params" || ref["namespace"] != "mg-system" || ref["parameterNotFoundAction"] != tc.notFound {
			t.Errorf("%s: binding %v", tc.mode, spec(binding))
		}
		if params["kind"] != "ConfigMap" {
			t.Errorf("%s: third document %v", tc.mode, params["kind"])
		}
	}
}
