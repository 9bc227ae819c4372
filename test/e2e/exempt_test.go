package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// exemptionWait bounds how long a new meshguard-exempt binding takes to
// count: the webhook remembers a refusal for 30s (pkg/access.DenyTTL, as the
// API server's own webhook authorizer does).
const exemptionWait = admissionWait + 30*time.Second

// exemptRole is the chart's ClusterRole meshguard-exempt (test/chart's
// TestExemptionAuthzByDefault pins the chart to the same rule).
var exemptRole = &rbacv1.ClusterRole{
	ObjectMeta: metav1.ObjectMeta{Name: "meshguard-exempt"},
	Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"meshguard.dev"}, Resources: []string{"rules"}, Verbs: []string{"exempt"},
	}},
}

// exemptionCases check --exemption-authz (on, as the chart installs it)
// through the real API server's RBAC: a namespace editor's exemption is
// refused with the permission it needs named, and granted once an admin
// binds meshguard-exempt in that namespace.
func exemptionCases() map[string]func(t *testing.T, e *ruleEnv) {
	return map[string]func(t *testing.T, e *ruleEnv){
		"an exemption holds only for a user bound to meshguard-exempt in the namespace": func(t *testing.T, e *ruleEnv) {
			ctx := context.Background()
			if err := e.admin.Create(ctx, exemptRole.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("create ClusterRole: %v", err)
			}
			ns := createNamespace(t, e.admin, "exempt", meshed)
			user := "team-" + ns
			// A namespace team's rights on Ingresses (envtest runs no
			// controller-manager to aggregate the built-in edit role).
			editor := &rbacv1.Role{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ingress-editor"},
				Rules: []rbacv1.PolicyRule{{
					APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"create", "get", "delete"},
				}},
			}
			if err := e.admin.Create(ctx, editor); err != nil {
				t.Fatalf("create Role: %v", err)
			}
			bind(t, e.admin, ns, "edit", "Role", editor.Name, user)
			cfg := rest.CopyConfig(e.cfg)
			cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
			c, rec := warningClient(t, cfg)
			ing := storyIngress(t, ns)
			ing.Annotations["meshguard.dev/exempt"] = "ingress-in-mesh"
			ing.Annotations["meshguard.dev/exempt-reason"] = "GCLB until the gateway is ready"
			refusal := []string{"asks for an exemption from ingress-in-mesh, but " + user + " may not grant it",
				"verb exempt on rules.meshguard.dev, name ingress-in-mesh", "meshguard-exempt"}

			if e.mode == "enforce" {
				err := createUntilDenied(t, c, ing.DeepCopy())
				for _, want := range append([]string{"[ingress-in-mesh]"}, refusal...) {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("denial %q does not contain %q", err, want)
					}
				}
			} else {
				createWithWarning(t, c, rec, ing.DeepCopy(), append([]string{"[ingress-in-mesh] (audit) would deny:"}, refusal...)...)
				if err := e.admin.Delete(ctx, ing.DeepCopy()); err != nil {
					t.Fatalf("delete: %v", err)
				}
			}

			bind(t, e.admin, ns, "exempt", "ClusterRole", exemptRole.Name, user)
			// The webhook caches SubjectAccessReview answers for a moment,
			// and RBAC sees the new binding a moment after it is stored.
			harness.WaitFor(t, exemptionWait, "the exemption is granted once meshguard-exempt is bound", func() error {
				err := c.Create(ctx, ing.DeepCopy(), client.DryRunAll)
				if err != nil {
					return err
				}
				if got := harness.Containing(rec.Take(), "[ingress-in-mesh]", "would deny"); len(got) != 0 {
					return &probeError{"still refused: " + got[0]}
				}
				return nil
			})
			if err := c.Create(ctx, ing); err != nil {
				t.Fatalf("create with meshguard-exempt bound: %v", err)
			}
			mustExist(t, e.admin, ing)
		},
	}
}

// bind grants user the role in namespace ns.
func bind(t *testing.T, c client.Client, ns, name, kind, role, user string) {
	t.Helper()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if err := c.Create(context.Background(), rb); err != nil {
		t.Fatalf("bind %s to %s in %s: %v", role, user, ns, err)
	}
}
