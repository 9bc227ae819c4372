package chart

import (
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestUninstallRemovesWebhooksFirst: by default a pre-delete hook Job runs
// `webhook remove-webhooks` for exactly the chart's two configurations,
// with an account that may delete those two, by name, and nothing else, and
// a pod spec as locked down as the webhook's; its RBAC exists before it.
func TestUninstallRemovesWebhooksFirst(t *testing.T) {
	m := render(t, nil)
	if len(m.Hooks["Job"]) != 1 || len(m.Hooks["ClusterRole"]) != 1 || len(m.Hooks["ServiceAccount"]) != 1 || len(m.Hooks["ClusterRoleBinding"]) != 1 {
		t.Fatalf("hooks %v, want one Job with its ServiceAccount, ClusterRole and binding", keys(m.Hooks))
	}
	var job batchv1.Job
	var role rbacv1.ClusterRole
	var sa corev1.ServiceAccount
	for doc, v := range map[string]any{m.Hooks["Job"][0]: &job, m.Hooks["ClusterRole"][0]: &role, m.Hooks["ServiceAccount"][0]: &sa} {
		if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
			t.Fatal(err)
		}
	}
	if job.Annotations["helm.sh/hook"] != "pre-delete" || role.Annotations["helm.sh/hook-weight"] >= job.Annotations["helm.sh/hook-weight"] {
		t.Errorf("Job hook %q weight %q, RBAC weight %q: want pre-delete, RBAC first", job.Annotations["helm.sh/hook"], job.Annotations["helm.sh/hook-weight"], role.Annotations["helm.sh/hook-weight"])
	}
	pod := job.Spec.Template.Spec
	want := []string{"remove-webhooks", "--validating-webhook-configuration=" + m.Validating.Name, "--mutating-webhook-configuration=" + m.Mutating.Name}
	if c := pod.Containers[0]; !slices.Equal(c.Args, want) || c.Image != m.container(t).Image || pod.ServiceAccountName != sa.Name {
		t.Errorf("hook runs %s %v as %s, want the webhook's image with %v as %s", c.Image, c.Args, pod.ServiceAccountName, want, sa.Name)
	}
	sc := pod.Containers[0].SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("hook pod security %+v / %+v", pod.SecurityContext, sc)
	}
	if len(role.Rules) != 2 {
		t.Fatalf("hook role rules %+v", role.Rules)
	}
	for _, r := range role.Rules {
		if !slices.Equal(r.Verbs, []string{"delete"}) || len(r.ResourceNames) != 1 || r.ResourceNames[0] != m.Validating.Name {
			t.Errorf("hook role rule %+v: want delete on the chart's configuration only", r)
		}
	}

	if off := render(t, values(t, "uninstall: {removeWebhooksFirst: false}")); len(off.Hooks) != 0 {
		t.Errorf("removeWebhooksFirst=false still renders hooks %v", keys(off.Hooks))
	}
	audit := render(t, values(t, "rules: {nginx-http11: {mode: \"off\"}, gce-metadata-address: {mode: \"off\"}, gateway-credential-name: {mode: \"off\"}}"))
	var j batchv1.Job
	if err := yaml.Unmarshal([]byte(audit.Hooks["Job"][0]), &j); err != nil {
		t.Fatal(err)
	}
	if args := j.Spec.Template.Spec.Containers[0].Args; slices.ContainsFunc(args, func(a string) bool { return a != "remove-webhooks" && a[:len("--mutating")] == "--mutating" }) {
		t.Errorf("with every mutating rule off the hook still names a MutatingWebhookConfiguration: %v", args)
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
