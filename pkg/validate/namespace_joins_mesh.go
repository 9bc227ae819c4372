package validate

import (
	"context"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
)

// maxNamed bounds how many Ingresses one warning names; the API server
// truncates long warnings.
const maxNamed = 8

// IngressLister lists the Ingresses of a namespace.
type IngressLister interface {
	Ingresses(ctx context.Context, namespace string) ([]networkingv1.Ingress, error)
}

// NamespaceJoinsMesh warns when a namespace becomes mesh-enabled while it still
// holds Ingresses served outside Istio. It never denies: onboarding a namespace
// must not be blocked.
type NamespaceJoinsMesh struct {
	Ingresses IngressLister
	Classes   IngressClasses
	Mesh      mesh.Options
	// Istio says which Ingresses the mesh's istiod serves.
	Istio IstioIngress
	// AllowExemptions is the server's --allow-exemptions: Ingresses
	// exempted from ingress-in-mesh are then left out of the warning, since
	// their changes will not be denied.
	AllowExemptions bool
}

// ID implements policy.Rule.
func (NamespaceJoinsMesh) ID() string { return "namespace-joins-mesh" }

// Match implements policy.Rule: Namespace CREATE and UPDATE, every
// namespace (the rule looks for the moment one joins the mesh).
func (NamespaceJoinsMesh) Match() policy.Match {
	return policy.One(policy.Kind{Versions: []string{"v1"}, Resource: "namespaces", Kind: "Namespace"}, policy.Writes, false)
}

// Validate implements policy.Validator.
func (r NamespaceJoinsMesh) Validate(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	meta, err := req.Meta()
	if err != nil {
		return nil, err
	}
	status := mesh.Check(meta.Name, meta.Labels, r.Mesh)
	// A namespace being created holds nothing yet.
	if !status.Meshed || req.Operation != admissionv1.Update {
		return nil, nil
	}
	old, err := req.OldMeta()
	if err != nil {
		return nil, err
	}
	if mesh.Check(old.Name, old.Labels, r.Mesh).Meshed {
		return nil, nil
	}
	ingresses, err := r.Ingresses.Ingresses(ctx, meta.Name)
	if err != nil {
		return nil, err
	}
	var outside []string
	for i := range ingresses {
		ing := &ingresses[i]
		if policy.Exempted(IngressInMesh{}.ID(), ing.Annotations, r.AllowExemptions) {
			continue
		}
		by, err := classResolver{r.Classes, r.Istio}.resolve(ctx, ing.Annotations, ing.Spec.IngressClassName)
		if err != nil {
			return nil, err
		}
		if !by.istio {
			outside = append(outside, fmt.Sprintf("%q", ing.Name))
		}
	}
	if len(outside) == 0 {
		return nil, nil
	}
	named := strings.Join(outside[:min(len(outside), maxNamed)], ", ")
	if extra := len(outside) - maxNamed; extra > 0 {
		named += fmt.Sprintf(" and %d more", extra)
	}
	return []policy.Finding{policy.Warn(fmt.Sprintf(
		"namespace %q joins the Istio mesh (%s) while it holds Ingresses served outside Istio: %s; they bypass mesh routing and mTLS, and changes to their spec will be denied by ingress-in-mesh: %s",
		meta.Name, status.Reason, named, strings.Replace(GatewayAdvice, "expose it", "expose each", 1)))}, nil
}
