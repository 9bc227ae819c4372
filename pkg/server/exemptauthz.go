package server

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/meshguard/meshguard/pkg/access"
	"github.com/meshguard/meshguard/pkg/policy"
)

// exemptionAuthz is the engine's policy.ExemptionAuthorizer under
// --exemption-authz: a SubjectAccessReview of verb exempt on
// rules.meshguard.dev, name the rule, in the object's namespace, answered
// from access's cache when it was asked lately.
type exemptionAuthz struct{ r *access.Reviewer }

// MayExempt implements policy.ExemptionAuthorizer.
func (a exemptionAuthz) MayExempt(ctx context.Context, user authenticationv1.UserInfo, rule, namespace string) (bool, error) {
	return a.r.Allowed(ctx, user, authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
		Verb: policy.ExemptionVerb, Group: policy.ExemptionGroup, Resource: policy.ExemptionResource, Name: rule, Namespace: namespace,
	}})
}
