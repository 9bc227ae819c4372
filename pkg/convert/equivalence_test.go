package convert

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Outcomes of a request in the equivalence tables.
const (
	notFound   = "404" // no listener, no route, no rule
	redirected = "redirect"
	noBackend  = "500"
)

// request is one request of an equivalence table and where it must go:
// "service:port", redirected or notFound.
type request struct {
	scheme, host, path string
	want               string
}

// TestRoutingEquivalence states, for each set of Ingresses, which requests
// reach which Service, and checks that Ingress semantics and the emitted
// HTTPRoutes under Gateway API semantics both say exactly that.
func TestRoutingEquivalence(t *testing.T) {
	tests := equivalenceCases
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := read(t, tc.manifests)
			res := Convert(in, tc.opts)
			for _, rq := range tc.requests {
				byIngress := ingressRoute(in, rq)
				byGateway := gatewayRoute(res, rq)
				if byIngress != rq.want || byGateway != rq.want {
					t.Errorf("%s://%s%s: Ingress semantics → %s, HTTPRoutes → %s; the table says %s", rq.scheme, rq.host, rq.path, byIngress, byGateway, rq.want)
				}
			}
			validate(t, res)
			if t.Failed() {
				t.Logf("emitted:\n%s", yamlOf(t, res))
			}
		})
	}
}

// ingressRoute is where a request goes under Ingress semantics: the rules
// of the Ingresses of one namespace merged per host (an exact host first,
// then a wildcard matching one DNS label, then the rules without host); in
// them, the longest matching path, Exact before Prefix on a tie; else the
// defaultBackend of the first Ingress (by name) that has rules for the host.
func ingressRoute(in *Input, rq request) string {
	ings := sortedIngresses(in)
	ns := ""
	if len(ings) > 0 {
		ns = ings[0].ns
	}
	type cand struct {
		ing  *ingress
		path networkingv1.HTTPIngressPath
	}
	var hostRules func(host string) ([]cand, []*ingress)
	hostRules = func(host string) ([]cand, []*ingress) {
		var out []cand
		var from []*ingress
		for _, ing := range ings {
			for _, r := range ing.Spec.Rules {
				if r.Host != host {
					continue
				}
				if !slices.Contains(from, ing) {
					from = append(from, ing)
				}
				if r.HTTP != nil {
					for _, p := range r.HTTP.Paths {
						out = append(out, cand{ing, p})
					}
				}
			}
		}
		return out, from
	}
	cands, from := hostRules(rq.host)
	hostKey := rq.host
	if len(from) == 0 {
		if _, rest, ok := strings.Cut(rq.host, "."); ok {
			hostKey = "*." + rest
			cands, from = hostRules(hostKey)
		}
	}
	if len(from) == 0 {
		hostKey = ""
		cands, from = hostRules("")
		for _, ing := range ings {
			if ing.Spec.DefaultBackend != nil && !slices.Contains(from, ing) {
				from = append(from, ing)
			}
		}
	}
	if rq.scheme == "https" && !ingressTLS(ings, rq.host) {
		return notFound
	}
	var best *cand
	bestLen, bestExact := -1, false
	for i, c := range cands {
		if !ingressPathMatches(c.ing, c.path, rq.path) {
			continue
		}
		exact := c.path.PathType != nil && *c.path.PathType == networkingv1.PathTypeExact
		if l := len(c.path.Path); l > bestLen || (l == bestLen && exact && !bestExact) {
			best, bestLen, bestExact = &cands[i], l, exact
		}
	}
	var ing *ingress
	target := notFound
	switch {
	case best != nil:
		ing, target = best.ing, ingressBackend(in, ns, best.path.Backend)
	default:
		for _, i := range from {
			if i.Spec.DefaultBackend != nil {
				ing, target = i, ingressBackend(in, ns, *i.Spec.DefaultBackend)
				break
			}
		}
	}
	if ing == nil || rq.scheme == "https" {
		return target
	}
	switch ing.mode(hostKey) {
	case notServed:
		return notFound
	case redirect:
		return redirected
	}
	return target
}

func sortedIngresses(in *Input) []*ingress {
	var out []*ingress
	for _, i := range in.Ingresses {
		ing := newIngress(i, in)
		c := &converter{res: &Result{}}
		c.annotations(ing)
		out = append(out, ing)
	}
	slices.SortStableFunc(out, func(a, b *ingress) int { return strings.Compare(a.ns+"/"+a.Name, b.ns+"/"+b.Name) })
	return out
}

// ingressTLS: some Ingress has a certificate for host (exactly, through a
// one-label wildcard, or an entry without hosts).
func ingressTLS(ings []*ingress, host string) bool {
	_, rest, _ := strings.Cut(host, ".")
	for _, ing := range ings {
		for _, t := range ing.Spec.TLS {
			if t.SecretName != "" && (len(t.Hosts) == 0 || slices.Contains(t.Hosts, host) || slices.Contains(t.Hosts, "*."+rest)) {
				return true
			}
		}
	}
	return false
}

func ingressPathMatches(ing *ingress, p networkingv1.HTTPIngressPath, path string) bool {
	pt := ptr.Deref(p.PathType, networkingv1.PathTypeImplementationSpecific)
	switch pt {
	case networkingv1.PathTypeExact:
		return path == p.Path
	case networkingv1.PathTypePrefix:
		return elementPrefix(strings.TrimRight(p.Path, "/"), path)
	}
	switch ing.controller {
	case ctrlGCE:
		if p.Path == "/*" {
			return true
		}
		if base, ok := strings.CutSuffix(p.Path, "/*"); ok {
			return strings.HasPrefix(path, base+"/")
		}
		return path == p.Path
	case ctrlNginx:
		if ing.useRegex {
			return regexp.MustCompile("(?i)^" + p.Path).MatchString(path)
		}
	}
	return strings.HasPrefix(path, p.Path)
}

// elementPrefix is Ingress Prefix (and Gateway API PathPrefix) matching of
// a prefix without trailing slash.
func elementPrefix(prefix, path string) bool {
	return prefix == "" || prefix == "/" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

func ingressBackend(in *Input, ns string, b networkingv1.IngressBackend) string {
	if b.Service == nil {
		return noBackend
	}
	port := b.Service.Port.Number
	for _, s := range in.Services {
		if nsOf(s.Namespace) == ns && s.Name == b.Service.Name {
			for _, p := range s.Spec.Ports {
				if b.Service.Port.Name != "" && p.Name == b.Service.Port.Name {
					port = p.Port
				}
			}
		}
	}
	if port == 0 {
		return noBackend
	}
	return fmt.Sprintf("%s:%d", b.Service.Name, port)
}

// gatewayRoute is where a request goes under Gateway API semantics: the
// listener for the scheme (for HTTPS the most specific hostname), the
// routes attached to it, of those the ones with the most specific matching
// hostname, and in them an Exact match before the longest PathPrefix.
func gatewayRoute(res *Result, rq request) string {
	for _, gw := range res.Gateways {
		l := pickListener(gw, rq)
		if l == nil {
			continue
		}
		best, bestScore := []*gatewayv1.HTTPRoute{}, -1
		for _, rt := range res.HTTPRoutes {
			if !attached(rt, gw.Name, gw.Namespace, l) {
				continue
			}
			score := hostScore(rt.Spec.Hostnames, rq.host)
			switch {
			case score < 0:
			case score > bestScore:
				best, bestScore = []*gatewayv1.HTTPRoute{rt}, score
			case score == bestScore:
				best = append(best, rt)
			}
		}
		var rule *gatewayv1.HTTPRouteRule
		rank := -1
		for _, rt := range best {
			for i := range rt.Spec.Rules {
				for _, m := range rt.Spec.Rules[i].Matches {
					if r := matchRank(m.Path, rq.path); r > rank {
						rule, rank = &rt.Spec.Rules[i], r
					}
				}
			}
		}
		if rule == nil {
			return notFound
		}
		for _, f := range rule.Filters {
			if f.Type == gatewayv1.HTTPRouteFilterRequestRedirect {
				return redirected
			}
		}
		if len(rule.BackendRefs) == 0 {
			return noBackend
		}
		b := rule.BackendRefs[0]
		return fmt.Sprintf("%s:%d", b.Name, ptr.Deref(b.Port, 0))
	}
	return notFound
}

func pickListener(gw *gatewayv1.Gateway, rq request) *gatewayv1.Listener {
	var best *gatewayv1.Listener
	bestScore := -1
	for i, l := range gw.Spec.Listeners {
		want := gatewayv1.HTTPProtocolType
		if rq.scheme == "https" {
			want = gatewayv1.HTTPSProtocolType
		}
		if l.Protocol != want {
			continue
		}
		var hs []gatewayv1.Hostname
		if l.Hostname != nil {
			hs = append(hs, *l.Hostname)
		}
		if s := hostScore(hs, rq.host); s > bestScore {
			best, bestScore = &gw.Spec.Listeners[i], s
		}
	}
	return best
}

func attached(rt *gatewayv1.HTTPRoute, gw, gwNS string, l *gatewayv1.Listener) bool {
	for _, p := range rt.Spec.ParentRefs {
		ns := rt.Namespace
		if p.Namespace != nil {
			ns = string(*p.Namespace)
		}
		if string(p.Name) != gw || ns != gwNS || (p.SectionName != nil && *p.SectionName != l.Name) {
			continue
		}
		if l.Hostname == nil || len(rt.Spec.Hostnames) == 0 {
			return true
		}
		for _, h := range rt.Spec.Hostnames {
			if intersect(string(*l.Hostname), string(h)) {
				return true
			}
		}
	}
	return false
}

// hostScore ranks how hostnames match host: -1 not at all, 0 no hostnames
// (any host), then wildcards by length, then exact names.
func hostScore(hostnames []gatewayv1.Hostname, host string) int {
	if len(hostnames) == 0 {
		return 0
	}
	best := -1
	for _, h := range hostnames {
		switch s := string(h); {
		case s == host:
			best = max(best, 10000+len(s))
		case strings.HasPrefix(s, "*.") && strings.HasSuffix(host, s[1:]):
			best = max(best, len(s))
		}
	}
	return best
}

// matchRank ranks a path match for path: -1 no match, Exact highest, then
// regular expressions, then PathPrefix by length.
func matchRank(m *gatewayv1.HTTPPathMatch, path string) int {
	typ, value := ptr.Deref(m.Type, gatewayv1.PathMatchPathPrefix), ptr.Deref(m.Value, "/")
	switch typ {
	case gatewayv1.PathMatchExact:
		if path == value {
			return 1 << 20
		}
	case gatewayv1.PathMatchRegularExpression:
		if regexp.MustCompile("^(?:" + value + ")$").MatchString(path) {
			return 1 << 19
		}
	case gatewayv1.PathMatchPathPrefix:
		if elementPrefix(value, path) {
			return len(value)
		}
	}
	return -1
}

const storyIngress = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: my-app
  namespace: my-app
  annotations:
    kubernetes.io/ingress.class: "gce"
    kubernetes.io/ingress.global-static-ip-name: "gad-my-app"
    kubernetes.io/ingress.allow-http: "false"
spec:
  tls:
  - hosts:
    - dev.my-app.com
    secretName: my-app-tls
  rules:
  - host: dev.my-app.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: my-nginx
            port:
              number: 80
`

// equivalenceCase is a set of Ingresses and where requests must go.
type equivalenceCase struct {
	name      string
	manifests string
	opts      Options
	requests  []request
}

// equivalenceCases are the tables of TestRoutingEquivalence (Gateway API)
// and TestIstioRoutingEquivalence.
var equivalenceCases = []equivalenceCase{
	{"the story's GCE Ingress: HTTPS only", storyIngress, Options{}, []request{
		{"https", "dev.my-app.com", "/", "my-nginx:80"},
		{"https", "dev.my-app.com", "/any/thing", "my-nginx:80"},
		{"http", "dev.my-app.com", "/", notFound},
		{"https", "other.example.com", "/", notFound},
	}},
	{"Prefix is element-wise, Exact beats Prefix, longest prefix wins", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: paths, namespace: shop}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /foo, pathType: Prefix, backend: {service: {name: foo, port: {number: 80}}}}
      - {path: /foo/bar, pathType: Exact, backend: {service: {name: bar, port: {number: 80}}}}
      - {path: /foo/baz/, pathType: Prefix, backend: {service: {name: baz, port: {number: 8080}}}}
      - {path: /, pathType: Exact, backend: {service: {name: root, port: {number: 80}}}}
`, Options{}, []request{
		{"http", "shop.example.com", "/foo", "foo:80"},
		{"http", "shop.example.com", "/foo/", "foo:80"},
		{"http", "shop.example.com", "/foobar", notFound},
		{"http", "shop.example.com", "/foo/bar", "bar:80"},
		{"http", "shop.example.com", "/foo/bar/", "foo:80"},
		{"http", "shop.example.com", "/foo/baz", "baz:8080"},
		{"http", "shop.example.com", "/foo/baz/x", "baz:8080"},
		{"http", "shop.example.com", "/foo/bazx", "foo:80"},
		{"http", "shop.example.com", "/", "root:80"},
		{"http", "shop.example.com", "/other", notFound},
		{"http", "other.example.com", "/foo", notFound},
	}},
	{"defaultBackend catches what no rule matches, on every host", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  defaultBackend: {service: {name: fallback, port: {number: 8080}}}
  rules:
  - host: a.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
  - http:
      paths:
      - {path: /status, pathType: Exact, backend: {service: {name: status, port: {number: 80}}}}
`, Options{}, []request{
		{"http", "a.example.com", "/api/v1", "api:80"},
		{"http", "a.example.com", "/", "fallback:8080"},
		{"http", "a.example.com", "/status", "fallback:8080"},
		{"http", "b.example.com", "/status", "status:80"},
		{"http", "b.example.com", "/api", "fallback:8080"},
	}},
	{"an Ingress with only a defaultBackend", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: single, namespace: shop}
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
`, Options{}, []request{
		{"http", "anything.example.com", "/", "web:80"},
		{"http", "x", "/a/b", "web:80"},
	}},
	{"ingress-nginx redirects hosts with TLS to HTTPS", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  ingressClassName: nginx
  tls:
  - {hosts: [secure.example.com], secretName: secure-tls}
  rules:
  - host: secure.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: secure, port: {number: 80}}}}
  - host: plain.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: plain, port: {number: 80}}}}
`, Options{}, []request{
		{"http", "secure.example.com", "/x", redirected},
		{"https", "secure.example.com", "/x", "secure:80"},
		{"http", "plain.example.com", "/x", "plain:80"},
		{"https", "plain.example.com", "/x", notFound},
	}},
	{"force-ssl-redirect redirects without TLS too, ssl-redirect false serves HTTP", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: forced
  namespace: shop
  annotations: {nginx.ingress.kubernetes.io/force-ssl-redirect: "true"}
spec:
  ingressClassName: nginx
  rules:
  - host: forced.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: forced, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: relaxed
  namespace: shop
  annotations: {nginx.ingress.kubernetes.io/ssl-redirect: "false"}
spec:
  ingressClassName: nginx
  tls:
  - {hosts: [relaxed.example.com], secretName: relaxed-tls}
  rules:
  - host: relaxed.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: relaxed, port: {number: 80}}}}
`, Options{}, []request{
		{"http", "forced.example.com", "/", redirected},
		{"http", "relaxed.example.com", "/a", "relaxed:80"},
		{"https", "relaxed.example.com", "/a", "relaxed:80"},
	}},
	{"Ingresses sharing a host merge; each keeps its own paths and redirect", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: shop
  annotations: {nginx.ingress.kubernetes.io/force-ssl-redirect: "true"}
spec:
  ingressClassName: nginx
  tls:
  - {hosts: [shop.example.com], secretName: shop-tls}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 8080}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  annotations: {nginx.ingress.kubernetes.io/ssl-redirect: "false"}
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`, Options{}, []request{
		{"http", "shop.example.com", "/api/x", redirected},
		{"https", "shop.example.com", "/api/x", "api:8080"},
		{"http", "shop.example.com", "/", "web:80"},
		{"https", "shop.example.com", "/cart", "web:80"},
	}},
	{"GCE ImplementationSpecific: /* is everything, no * is exact", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: gce
  namespace: shop
  annotations: {kubernetes.io/ingress.class: gce}
spec:
  rules:
  - http:
      paths:
      - {path: /*, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api/*, pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /healthz, pathType: ImplementationSpecific, backend: {service: {name: health, port: {number: 80}}}}
`, Options{}, []request{
		{"http", "x.example.com", "/", "web:80"},
		{"http", "x.example.com", "/api/v1", "api:80"},
		{"http", "x.example.com", "/api/", "api:80"},
		{"http", "x.example.com", "/apix", "web:80"},
		{"http", "x.example.com", "/healthz", "health:80"},
		{"http", "x.example.com", "/healthz/x", "web:80"},
		// GCE's /api/* does not match /api, PathPrefix /api does: the
		// report says so, so /api is left out of this table.
	}},
	{"a named port is resolved from the Service", `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports:
  - {name: http, port: 8080, targetPort: 80}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
`, Options{}, []request{
		{"http", "shop.example.com", "/", "web:8080"},
	}},
	{"exact hosts beat wildcard hosts, which beat rules without host", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: hosts, namespace: shop}
spec:
  tls:
  - {hosts: ["*.example.com"], secretName: wildcard-tls}
  rules:
  - host: "*.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: wildcard, port: {number: 80}}}}
  - host: a.example.com
    http:
      paths:
      - {path: /a, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: any, port: {number: 80}}}}
`, Options{}, []request{
		{"http", "b.example.com", "/x", "wildcard:80"},
		{"https", "b.example.com", "/x", "wildcard:80"},
		{"http", "a.example.com", "/a", "a:80"},
		{"https", "a.example.com", "/a", "a:80"},
		{"http", "a.example.com", "/x", notFound},
		{"http", "example.com", "/x", "any:80"},
		{"http", "other.org", "/", "any:80"},
		// a.b.example.com: one label for Ingress, any number for
		// Gateway API; reported, so left out.
	}},
	{"a shared Gateway in another namespace", `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  tls:
  - {hosts: [shop.example.com], secretName: shop-tls}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: blog, namespace: blog}
spec:
  rules:
  - host: blog.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: blog, port: {number: 80}}}}
`, Options{GatewayName: "edge", GatewayNamespace: "infra"}, []request{
		{"https", "shop.example.com", "/", "web:80"},
		{"http", "shop.example.com", "/", "web:80"},
		{"http", "blog.example.com", "/", "blog:80"},
		{"https", "blog.example.com", "/", notFound},
	}},
	{"a retired v1beta1 Ingress", `
apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: old, namespace: shop}
spec:
  backend: {serviceName: fallback, servicePort: 80}
  rules:
  - host: old.example.com
    http:
      paths:
      - path: /api
        pathType: Prefix
        backend: {serviceName: api, servicePort: 8080}
`, Options{}, []request{
		{"http", "old.example.com", "/api", "api:8080"},
		{"http", "old.example.com", "/", "fallback:80"},
		{"http", "new.example.com", "/", "fallback:80"},
	}},
}
