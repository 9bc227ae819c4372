// Package access asks the API server who a caller is (TokenReview) and what
// they may do (SubjectAccessReview), and remembers the answers briefly, as
// kube-apiserver's own delegating authenticator and authorizer do. The
// metrics server uses it for its callers, and the engine for who may exempt
// an object from a rule. It knows client-go, nothing of meshguard's rules.
package access

import (
	"context"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Cache lifetimes, those of controller-runtime's metrics filter: a token is
// trusted for a minute, an allowed request for five, a denied one for thirty
// seconds (so a new RoleBinding takes effect within that).
const (
	TokenTTL = time.Minute
	AllowTTL = 5 * time.Minute
	DenyTTL  = 30 * time.Second
	// reviewTimeout bounds one review when the caller's context does not.
	reviewTimeout = 10 * time.Second
)

// Reviewer asks the API server and caches its answers. Safe for concurrent use.
type Reviewer struct {
	cs        kubernetes.Interface
	users     cache[cachedUser]
	decisions cache[bool]
}

// NewReviewer reviews through cs.
func NewReviewer(cs kubernetes.Interface) *Reviewer {
	return &Reviewer{cs: cs}
}

type cachedUser struct {
	user authenticationv1.UserInfo
	ok   bool
}

// Authenticate returns the user a bearer token belongs to, and false when
// the API server does not recognise it.
func (r *Reviewer) Authenticate(ctx context.Context, token string) (authenticationv1.UserInfo, bool, error) {
	if u, hit := r.users.get(token); hit {
		return u.user, u.ok, nil
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	tr, err := r.cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, false, err
	}
	r.users.put(token, cachedUser{tr.Status.User, tr.Status.Authenticated}, TokenTTL)
	return tr.Status.User, tr.Status.Authenticated, nil
}

// Allowed reports whether user may do what attrs describe: set exactly one
// of ResourceAttributes and NonResourceAttributes.
func (r *Reviewer) Allowed(ctx context.Context, user authenticationv1.UserInfo, attrs authorizationv1.SubjectAccessReviewSpec) (bool, error) {
	key := decisionKey(user, attrs)
	if allowed, hit := r.decisions.get(key); hit {
		return allowed, nil
	}
	spec := attrs
	spec.User, spec.UID, spec.Groups = user.Username, user.UID, user.Groups
	if len(user.Extra) > 0 {
		spec.Extra = make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			spec.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	sar, err := r.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	ttl := DenyTTL
	if sar.Status.Allowed {
		ttl = AllowTTL
	}
	r.decisions.put(key, sar.Status.Allowed, ttl)
	return sar.Status.Allowed, nil
}

// bounded gives a review the caller's deadline, or reviewTimeout.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, reviewTimeout)
}
