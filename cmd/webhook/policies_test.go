package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/internal/testenv"
)

// TestPoliciesPrintsTheCompiledPolicy: the policy, its binding and the
// parameters, as YAML, with the mode's actions and failure policy.
func TestPoliciesPrintsTheCompiledPolicy(t *testing.T) {
	for _, tc := range []struct {
		mode, failure, actions, notFound string
		kinds                            []string
	}{
		{"enforce", "Fail", "[Deny]", "Deny", []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ConfigMap",
			"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}},
		{"audit", "Ignore", "[Warn Audit]", "Allow", []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ConfigMap",
			"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}},
	} {
		var out, errOut bytes.Buffer
		if code := run([]string{"policies", "--mode", tc.mode, "--name", "mg", "--namespace", "mg-system"}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.mode, code, errOut.String())
		}
		var docs []map[string]any
		var kinds []string
		for _, d := range strings.Split(out.String(), "---\n") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(d), &m); err != nil {
				t.Fatal(err)
			}
			docs = append(docs, m)
			kinds = append(kinds, fmt.Sprint(m["kind"]))
		}
		if fmt.Sprint(kinds) != fmt.Sprint(tc.kinds) {
			t.Fatalf("%s: kinds %v, want %v", tc.mode, kinds, tc.kinds)
		}
		spec := func(m map[string]any) map[string]any { return m["spec"].(map[string]any) }
		policy, binding := docs[0], docs[1]
		if spec(policy)["failurePolicy"] != tc.failure {
			t.Errorf("%s: ingress-in-mesh failurePolicy %v", tc.mode, spec(policy)["failurePolicy"])
		}
		ref := spec(binding)["paramRef"].(map[string]any)
		if got := fmt.Sprint(spec(binding)["validationActions"]); got != tc.actions ||
			ref["name"] != "mg-policy-params" || ref["namespace"] != "mg-system" || ref["parameterNotFoundAction"] != tc.notFound {
			t.Errorf("%s: binding %v", tc.mode, spec(binding))
		}
		for _, d := range docs {
			if d["kind"] != "ConfigMap" && d["metadata"].(map[string]any)["labels"].(map[string]any)["app.kubernetes.io/managed-by"] != "meshguard" {
				t.Errorf("%s: %v %v lacks the managed-by label", tc.mode, d["kind"], d["metadata"])
			}
		}
	}
}

// TestPoliciesCheck compares a real API server's objects with the compiled
// ones: in place after they are created, a difference named by its path
// after an edit, and a missing binding reported.
func TestPoliciesCheck(t *testing.T) {
	cfg, c := testenv.Start(t, "webhook policies --check")
	ctx := context.Background()
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mg-system"}})
	args := []string{"policies", "--name", "mg", "--namespace", "mg-system"}
	var out, errOut bytes.Buffer
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatal(errOut.String())
	}
	for _, doc := range strings.Split(out.String(), "---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		create(t, c, u)
	}
	check := append(args, "--check", "--kubeconfig", writeKubeconfig(t, cfg))
	runCheck := func() (int, string) {
		var out, errOut bytes.Buffer
		code := run(check, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, got := runCheck(); code != 0 || strings.Count(got, ": in place") != 6 || !strings.Contains(got, "ConfigMap mg-system/mg-policy-params: present") {
		t.Fatalf("exit %d:\n%s", code, got)
	}

	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	if err := c.Get(ctx, client.ObjectKey{Name: "mg-ingress-in-mesh"}, vap); err != nil {
		t.Fatal(err)
	}
	vap.Spec.Validations[0].Expression = "true"
	if err := c.Update(ctx, vap); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "mg-ingress-in-mesh"}}); err != nil {
		t.Fatal(err)
	}
	code, got := runCheck()
	for _, want := range []string{
		"ValidatingAdmissionPolicy mg-ingress-in-mesh: differs from what meshguard compiles at spec.validations[0].expression",
		"ValidatingAdmissionPolicyBinding mg-ingress-in-mesh: missing",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}
