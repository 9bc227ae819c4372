package certs

import (
	"net/http"
	"strings"

	"k8s.io/client-go/rest"
)

// scopedConfig returns a copy of cfg whose list and watch requests on the
// given collections (URL path suffix → object name) carry a
// metadata.name=<name> field selector, and on webhook configurations the
// label selector notOtherCA.
//
// cert-controller watches its Secret and the webhook configurations through
// an informer cache it builds itself, without a field selector, so it would
// need list and watch on every Secret of the namespace and every webhook
// configuration in the cluster. The API server authorizes a list or watch
// that selects metadata.name=<name> as a request for that one name, so with
// this wrapper the chart's RBAC can grant list and watch by resourceNames
// only. The selector only narrows what the informer sees to the object it
// asks for anyway.
func scopedConfig(cfg *rest.Config, names map[string]string) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return nameScope{next: rt, names: names}
	})
	return out
}

// collectionPaths maps the collections cert-controller lists and watches to
// the object it needs in each.
func collectionPaths(c Config) map[string]string {
	paths := map[string]string{
		"/api/v1/namespaces/" + c.Namespace + "/secrets": c.Secret,
	}
	const admission = "/apis/admissionregistration.k8s.io/v1/"
	if c.ValidatingWebhookConfiguration != "" {
		paths[admission+"validatingwebhookconfigurations"] = c.ValidatingWebhookConfiguration
	}
	if c.MutatingWebhookConfiguration != "" {
		paths[admission+"mutatingwebhookconfigurations"] = c.MutatingWebhookConfiguration
	}
	return paths
}

type nameScope struct {
	next  http.RoundTripper
	names map[string]string
}

func (s nameScope) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		return s.next.RoundTrip(req)
	}
	name, ok := s.lookup(req.URL.Path)
	if !ok {
		return s.next.RoundTrip(req)
	}
	q := req.URL.Query()
	q.Set("fieldSelector", withName(q.Get("fieldSelector"), name))
	if strings.Contains(req.URL.Path, "/admissionregistration.k8s.io/") {
		q.Set("labelSelector", withTerm(q.Get("labelSelector"), notOtherCA))
	}
	// RoundTrippers must not modify the caller's request.
	clone := req.Clone(req.Context())
	u := *req.URL
	u.RawQuery = q.Encode()
	clone.URL = &u
	return s.next.RoundTrip(clone)
}

// lookup matches by suffix so a rest.Config host with a path prefix works too.
func (s nameScope) lookup(path string) (string, bool) {
	path = strings.TrimSuffix(path, "/")
	for suffix, name := range s.names {
		if strings.HasSuffix(path, suffix) {
			return name, true
		}
	}
	return "", false
}

// SelfCALabel on a webhook configuration says whether its caBundle is the
// self-managed CA's ("true") or comes from elsewhere ("false": cert-manager,
// or a CA the chart writes). The chart sets it from certificates.mode.
const SelfCALabel = "meshguard.dev/self-ca"

// notOtherCA selects the webhook configurations whose caBundle the rotator
// may write: those not labelled as taking their CA from elsewhere (an
// unlabelled configuration still gets the CA). When an upgrade switches
// certificates.mode away from self, the label changes in the same write as
// the new caBundle, so the replicas still running in self mode stop seeing
// the configuration and no longer write their own CA back over it.
const notOtherCA = SelfCALabel + "!=false"

// withName ANDs metadata.name=<name> into a field selector.
func withName(selector, name string) string {
	return withTerm(selector, "metadata.name="+name)
}

// withTerm ANDs term into a field or label selector.
func withTerm(selector, term string) string {
	if selector == "" || selector == term {
		return term
	}
	for _, t := range strings.Split(selector, ",") {
		if t == term {
			return selector
		}
	}
	return selector + "," + term
}
