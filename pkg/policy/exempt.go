package policy

import (
	"context"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
)

// Annotations through which an object asks to be exempted from rules.
const (
	ExemptAnnotation       = "meshguard.dev/exempt"
	ExemptReasonAnnotation = "meshguard.dev/exempt-reason"
)

// checkExemption decides an object's exemption request for one rule.
func checkExemption(rule string, annotations map[string]string, allow bool) Exemption {
	if !listsRule(annotations[ExemptAnnotation], rule) {
		return Exemption{}
	}
	if !allow {
		return Exemption{Note: fmt.Sprintf("(the object asks for an exemption from %s, but exemptions are turned off on this cluster; ask the cluster admins)", rule)}
	}
	reason := strings.TrimSpace(annotations[ExemptReasonAnnotation])
	if reason == "" {
		return Exemption{Note: fmt.Sprintf("(the object asks for an exemption from %s, but it is not granted without a reason: set a non-empty %s annotation)", rule, ExemptReasonAnnotation)}
	}
	return Exemption{Granted: true, Reason: reason}
}

// Exempted reports whether annotations exempt an object from rule: they
// ask for it with a reason, and allow says the cluster honours exemptions.
// A rule that speaks about other objects (namespace-joins-mesh naming a
// namespace's Ingresses) leaves the exempted ones out with it.
func Exempted(rule string, annotations map[string]string, allow bool) bool {
	return checkExemption(rule, annotations, allow).Granted
}

func listsRule(list, rule string) bool {
	for item := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(item) == rule {
			return true
		}
	}
	return false
}

// ExemptionVerb, ExemptionGroup and ExemptionResource name the permission an
// exemption needs under --exemption-authz: verb exempt on
// rules.meshguard.dev, resource name the rule ID, in the object's namespace
// (the chart's ClusterRole meshguard-exempt grants it; bind it where an
// admin allows exemptions).
const (
	ExemptionVerb     = "exempt"
	ExemptionGroup    = "meshguard.dev"
	ExemptionResource = "rules"
)

// ExemptionAuthorizer decides whether a user may exempt objects from a rule
// in a namespace ("" for cluster-scoped objects).
type ExemptionAuthorizer interface {
	MayExempt(ctx context.Context, user authenticationv1.UserInfo, rule, namespace string) (bool, error)
}

// authorised asks the ExemptionAuthorizer about an exemption the
// annotations grant. An update that keeps an exemption the object already
// had (same rule, same reason) needs no one's permission: it was admitted
// when it was added, and controllers that maintain the object must not trip
// over it. An error means the question could not be answered: the review
// fails, so failurePolicy decides (closed in enforce mode).
func (e *Engine) authorised(ctx context.Context, req *Request, rule string, ex Exemption) (Exemption, error) {
	if req.Operation == admissionv1.Update {
		if old, err := req.OldMeta(); err == nil && checkExemption(rule, old.Annotations, true) == ex {
			return ex, nil
		}
	}
	ok, err := e.c.ExemptionAuthz.MayExempt(ctx, req.UserInfo, rule, req.Namespace)
	if err != nil {
		return ex, fmt.Errorf("asking whether %q may exempt the object: %w", req.UserInfo.Username, err)
	}
	if ok {
		return ex, nil
	}
	where := "cluster-wide"
	if req.Namespace != "" {
		where = fmt.Sprintf("in namespace %q", req.Namespace)
	}
	return Exemption{Note: fmt.Sprintf("(the object asks for an exemption from %s, but %s may not grant it: exempting needs verb %s on %s.%s, name %s, %s; ask an admin to bind the chart's ClusterRole meshguard-exempt there)",
		rule, req.UserInfo.Username, ExemptionVerb, ExemptionResource, ExemptionGroup, rule, where)}, nil
}
