package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/meshguard/meshguard/pkg/access"
)

// authorisedMetrics is a metricsserver.FilterProvider: every request to the
// metrics server (/metrics, the audit's /report) must carry a bearer token
// the API server authenticates for a user it authorises to get the path (a
// non-resource URL). It keeps the contract of controller-runtime's
// filters.WithAuthenticationAndAuthorization (no anonymous access, the same
// cache lifetimes, 401 and 403) on client-go alone: that filter's
// k8s.io/apiserver dependencies would add about 20 MB to the binary for two
// API calls.
func authorisedMetrics(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("metrics authorisation client: %w", err)
	}
	a := access.NewReviewer(cs)
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || token == "" {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			user, ok, err := a.Authenticate(r.Context(), token)
			if err != nil {
				log.Error(err, "authenticating a metrics request")
				http.Error(w, "Authentication failed", http.StatusInternalServerError)
				return
			}
			if !ok {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			allowed, err := a.Allowed(r.Context(), user, authorizationv1.SubjectAccessReviewSpec{
				NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: r.URL.Path, Verb: strings.ToLower(r.Method)},
			})
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
