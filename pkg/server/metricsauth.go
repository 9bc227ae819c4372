package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The caches of controller-runtime's filters.WithAuthenticationAndAuthorization,
// whose contract this filter keeps: a token is trusted for a minute, an
// allowed request for five, a denied one for thirty seconds.
const (
	tokenTTL = time.Minute
	allowTTL = 5 * time.Minute
	denyTTL  = 30 * time.Second
	// reviewTimeout bounds one TokenReview or SubjectAccessReview.
	reviewTimeout = 10 * time.Second
	// maxCached bounds each cache: a flood of made-up tokens cannot grow it.
	maxCached = 1024
)

// authorisedMetrics is a metricsserver.FilterProvider: every request to the
// metrics server (/metrics, the audit's /report) must carry a bearer token
// the API server authenticates (TokenReview) for a user it authorises to get
// the path (SubjectAccessReview, a non-resource URL). It is the contract of
// controller-runtime's filters.WithAuthenticationAndAuthorization, on
// client-go alone: that filter's k8s.io/apiserver dependencies would add
// about 20 MB to the binary for two API calls.
func authorisedMetrics(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("metrics authorisation client: %w", err)
	}
	a := &reviewCache{cs: cs, users: map[string]cachedUser{}, decisions: map[string]cachedDecision{}}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || token == "" {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			user, ok, err := a.authenticate(r.Context(), token)
			if err != nil {
				log.Error(err, "authenticating a metrics request")
				http.Error(w, "Authentication failed", http.StatusInternalServerError)
				return
			}
			if !ok {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			allowed, err := a.authorise(r.Context(), user, strings.ToLower(r.Method), r.URL.Path)
			if err != nil {
				log.Error(err, "authorising a metrics request", "user", user.Username)
				http.Error(w, "Authorization failed", http.StatusInternalServerError)
				return
			}
			if !allowed {
				http.Error(w, fmt.Sprintf("Authorization denied for user %s", user.Username), http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		}), nil
	}, nil
}

type cachedUser struct {
	user    authenticationv1.UserInfo
	ok      bool
	expires time.Time
}

type cachedDecision struct {
	allowed bool
	expires time.Time
}

// reviewCache asks the API server and remembers its answers briefly.
type reviewCache struct {
	cs        kubernetes.Interface
	mu        sync.Mutex
	users     map[string]cachedUser
	decisions map[string]cachedDecision
}

func (c *reviewCache) authenticate(ctx context.Context, token string) (authenticationv1.UserInfo, bool, error) {
	now := time.Now()
	c.mu.Lock()
	u, hit := c.users[token]
	c.mu.Unlock()
	if hit && now.Before(u.expires) {
		return u.user, u.ok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	tr, err := c.cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, false, err
	}
	u = cachedUser{user: tr.Status.User, ok: tr.Status.Authenticated, expires: now.Add(tokenTTL)}
	c.mu.Lock()
	bounded(c.users, now, func(e cachedUser) time.Time { return e.expires })
	c.users[token] = u
	c.mu.Unlock()
	return u.user, u.ok, nil
}

func (c *reviewCache) authorise(ctx context.Context, user authenticationv1.UserInfo, verb, path string) (bool, error) {
	key := user.UID + "\x00" + user.Username + "\x00" + verb + "\x00" + path
	now := time.Now()
	c.mu.Lock()
	d, hit := c.decisions[key]
	c.mu.Unlock()
	if hit && now.Before(d.expires) {
		return d.allowed, nil
	}
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	sar, err := c.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	ttl := denyTTL
	if sar.Status.Allowed {
		ttl = allowTTL
	}
	c.mu.Lock()
	bounded(c.decisions, now, func(e cachedDecision) time.Time { return e.expires })
	c.decisions[key] = cachedDecision{allowed: sar.Status.Allowed, expires: now.Add(ttl)}
	c.mu.Unlock()
	return sar.Status.Allowed, nil
}

// bounded makes room in a full cache: expired entries go first, and when
// none has expired the cache starts over.
func bounded[V any](m map[string]V, now time.Time, expires func(V) time.Time) {
	if len(m) < maxCached {
		return
	}
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
	if len(m) >= maxCached {
		clear(m)
	}
}
