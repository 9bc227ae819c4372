package convert

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// istioDifferences are the requests of equivalenceCases whose outcome under
// the Istio target differs from the Ingress's, on purpose: what the Istio
// objects do instead, why, and the report entry (what, outcome) that says
// so.
var istioDifferences = map[string]struct {
	got, reason, what string
	outcome           Outcome
}{
	"Ingresses sharing a host merge; each keeps its own paths and redirect|http://shop.example.com/api/x": {
		"api:8080", "an Istio Gateway server redirects whole hosts; Ingress web serves plain HTTP for shop.example.com",
		annForceRedirect, Approximated,
	},
	"exact hosts beat wildcard hosts, which beat rules without host|https://b.example.com/x": {
		"any:80", "the HTTPS server names *.example.com, so istiod merges the VirtualService for * into that host's routes; both end in a catch-all, and any-host sorts before wildcard.example.com",
		"spec.rules[2].host", Approximated,
	},
}

// TestIstioRoutingEquivalence checks the routing tables of
// TestRoutingEquivalence against the Istio target's objects, evaluated as
// istiod and Envoy route: every request reaches what the Ingress says,
// except the listed differences, which the report names.
func TestIstioRoutingEquivalence(t *testing.T) {
	used := map[string]bool{}
	for _, tc := range equivalenceCases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.To = TargetIstio
			res := Convert(read(t, tc.manifests), opts)
			for _, rq := range tc.requests {
				got := istioRoute(res, rq)
				key := fmt.Sprintf("%s|%s://%s%s", tc.name, rq.scheme, rq.host, rq.path)
				d, known := istioDifferences[key]
				switch {
				case known:
					used[key] = true
					if got != d.got {
						t.Errorf("%s: the Istio objects route to %s, the known difference says %s (%s)", key, got, d.got, d.reason)
					}
					if outcomes(res)[d.what] != d.outcome {
						t.Errorf("%s: the report says %s for %s, want %s: %s", key, outcomes(res)[d.what], d.what, d.outcome, d.reason)
					}
				case got != rq.want:
					t.Errorf("%s://%s%s: the Istio objects route to %s; the table says %s", rq.scheme, rq.host, rq.path, got, rq.want)
				}
			}
			validate(t, res)
			if t.Failed() {
				t.Logf("emitted:\n%s", yamlOf(t, res))
			}
		})
	}
	for key := range istioDifferences {
		if !used[key] {
			t.Errorf("known difference %q matches no request of the tables", key)
		}
	}
}

// istioRoute is where a request goes through the Istio objects, as istiod
// builds Envoy's routes for a gateway: for HTTPS the server whose hosts
// match the SNI best, for HTTP every port 80 server; a virtual host per
// intersection of a server host and a VirtualService host, holding the
// routes of every VirtualService bound to the Gateway (ordered by name then
// namespace, as by creation time when all were applied at once) with the
// catch-all routes last, redirected when an httpsRedirect server names it;
// then the most specific virtual host for the request's host, and in it the
// first route that matches.
func istioRoute(res *Result, rq request) string {
	port := uint32(80)
	if rq.scheme == "https" {
		port = 443
	}
	for _, gw := range res.IstioGateways {
		var servers []IstioServer
		best := -1
		for _, s := range gw.Spec.Servers {
			if s.Port.Number != port {
				continue
			}
			if port == 80 {
				servers = append(servers, s)
				continue
			}
			if sc := istioHostScore(s.Hosts, rq.host); sc > best {
				servers, best = []IstioServer{s}, sc
			}
		}
		if len(servers) == 0 {
			continue
		}
		vss := slices.Clone(res.VirtualServices)
		slices.SortStableFunc(vss, func(a, b *VirtualService) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Namespace, b.Namespace))
		})
		type vhost struct {
			routes   []envoyRoute
			redirect bool
		}
		vhosts := map[string]*vhost{}
		for _, s := range servers {
			for _, vs := range vss {
				if !slices.Contains(vs.Spec.Gateways, gw.Namespace+"/"+gw.Name) {
					continue
				}
				for _, sh := range s.Hosts {
					for _, vh := range vs.Spec.Hosts {
						k, ok := istioIntersect(sh, vh)
						if !ok {
							continue
						}
						v := vhosts[k]
						if v == nil {
							v = &vhost{}
							vhosts[k] = v
						}
						v.routes = append(v.routes, envoyRoutes(vs)...)
						v.redirect = v.redirect || (s.TLS != nil && s.TLS.HTTPSRedirect)
					}
				}
			}
			if s.TLS != nil && s.TLS.HTTPSRedirect {
				for _, sh := range s.Hosts {
					if vhosts[sh] == nil {
						vhosts[sh] = &vhost{}
					}
					vhosts[sh].redirect = true
				}
			}
		}
		var v *vhost
		best = -1
		for k, vh := range vhosts {
			if sc := istioHostScore([]string{k}, rq.host); sc > best {
				v, best = vh, sc
			}
		}
		if v == nil {
			return notFound
		}
		if v.redirect {
			return redirected
		}
		routes := append(slices.DeleteFunc(slices.Clone(v.routes), envoyRoute.catchAll), slices.DeleteFunc(slices.Clone(v.routes), func(r envoyRoute) bool { return !r.catchAll() })...)
		for _, r := range routes {
			if r.matches(rq.path) {
				return r.target
			}
		}
		return notFound
	}
	return notFound
}

// envoyRoute is one match of a VirtualService route, as istiod writes
// each match as an Envoy route.
type envoyRoute struct {
	m      IstioStringMatch
	target string
}

func envoyRoutes(vs *VirtualService) []envoyRoute {
	var out []envoyRoute
	for _, h := range vs.Spec.HTTP {
		target := noBackend
		if len(h.Route) > 0 {
			d := h.Route[0].Destination
			svc, _, _ := strings.Cut(d.Host, ".")
			target = fmt.Sprintf("%s:%d", svc, d.Port.Number)
		}
		for _, m := range h.Match {
			out = append(out, envoyRoute{m.URI, target})
		}
		if len(h.Match) == 0 {
			out = append(out, envoyRoute{IstioStringMatch{Prefix: "/"}, target})
		}
	}
	return out
}

func (r envoyRoute) catchAll() bool { return r.m.Prefix == "/" || r.m.Regex == ".*" }

func (r envoyRoute) matches(path string) bool {
	switch {
	case r.m.Exact != "":
		return path == r.m.Exact
	case r.m.Prefix != "":
		return strings.HasPrefix(path, r.m.Prefix)
	}
	return regexp.MustCompile("^(?:" + r.m.Regex + ")$").MatchString(path)
}

// istioIntersect is the virtual host of a server host and a VirtualService
// host: the more specific of the two when one covers the other.
func istioIntersect(server, vs string) (string, bool) {
	switch {
	case hostCovers(server, vs):
		return vs, true
	case hostCovers(vs, server):
		return server, true
	}
	return "", false
}

// istioHostScore ranks how hosts match host: -1 not at all, 0 "*", then
// wildcards by length, then exact names.
func istioHostScore(hosts []string, host string) int {
	best := -1
	for _, h := range hosts {
		switch {
		case h == host:
			best = max(best, 10000+len(h))
		case h == anyHost:
			best = max(best, 0)
		case strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]):
			best = max(best, len(h))
		}
	}
	return best
}
