package istio

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networking "istio.io/api/networking/v1alpha3"
	istioroute "istio.io/istio/pilot/pkg/networking/core/route"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/host"
)

// Outcomes of a probe besides "host:port" of a destination.
const (
	notFound   = "404"
	redirected = "redirect"
	noBackend  = "500"
)

// routeRequest is where a request goes through Istio Gateways and
// VirtualServices, as istiod builds a gateway's Envoy routes: for HTTPS the
// server whose hosts match the SNI best, for HTTP every port 80 server; a
// virtual host per intersection of a server host and a host of a
// VirtualService bound to that Gateway, holding the Envoy routes of every
// such VirtualService (in creation order: by name, then namespace, as
// objects applied together share their creation second), catch-all routes
// last (route.SortVHostRoutes), redirected when an httpsRedirect server
// names the host; then the most specific virtual host for the request's
// host, and its first route whose match (route.TranslateRouteMatch, so
// Istio's own Ingress VirtualServices keep their "ingress" route semantics)
// takes the path.
func routeRequest(cfgs []config.Config, scheme, reqHost, path string) string {
	port := uint32(80)
	if scheme == "https" {
		port = 443
	}
	var vss []config.Config
	for _, c := range cfgs {
		if c.GroupVersionKind.Kind == "VirtualService" {
			vss = append(vss, c)
		}
	}
	slices.SortStableFunc(vss, func(a, b config.Config) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Namespace, b.Namespace))
	})
	type vhost struct {
		routes   []*route.Route
		targets  []string
		redirect bool
	}
	vhosts := map[string]*vhost{}
	for _, gwc := range cfgs {
		if gwc.GroupVersionKind.Kind != "Gateway" {
			continue
		}
		gw := gwc.Spec.(*networking.Gateway)
		var servers []*networking.Server
		best := -1
		for _, s := range gw.Servers {
			if s.Port.Number != port {
				continue
			}
			if port == 80 {
				servers = append(servers, s)
				continue
			}
			if sc := hostScore(s.Hosts, reqHost); sc > best {
				servers, best = []*networking.Server{s}, sc
			}
		}
		for _, s := range servers {
			redirect := s.GetTls().GetHttpsRedirect()
			for _, vsc := range vss {
				vs := vsc.Spec.(*networking.VirtualService)
				if !slices.Contains(vs.Gateways, gwc.Namespace+"/"+gwc.Name) {
					continue
				}
				for _, sh := range s.Hosts {
					for _, vh := range vs.Hosts {
						k, ok := intersect(sh, vh)
						if !ok {
							continue
						}
						v := vhosts[k]
						if v == nil {
							v = &vhost{}
							vhosts[k] = v
						}
						for _, h := range vs.Http {
							target := notFound
							switch {
							case h.DirectResponse != nil:
								target = noBackend
							case len(h.Route) > 0:
								d := h.Route[0].Destination
								target = fmt.Sprintf("%s:%d", d.Host, d.GetPort().GetNumber())
							}
							matches := h.Match
							if len(matches) == 0 {
								matches = []*networking.HTTPMatchRequest{{Uri: &networking.StringMatch{MatchType: &networking.StringMatch_Prefix{Prefix: "/"}}}}
							}
							for _, m := range matches {
								v.routes = append(v.routes, &route.Route{Match: istioroute.TranslateRouteMatch(vsc, m)})
								v.targets = append(v.targets, target)
							}
						}
						v.redirect = v.redirect || redirect
					}
				}
			}
			if redirect {
				for _, sh := range s.Hosts {
					if vhosts[sh] == nil {
						vhosts[sh] = &vhost{}
					}
					vhosts[sh].redirect = true
				}
			}
		}
	}
	var v *vhost
	best := -1
	for k, vh := range vhosts {
		if sc := hostScore([]string{k}, reqHost); sc > best {
			v, best = vh, sc
		}
	}
	if v == nil {
		return notFound
	}
	if v.redirect {
		return redirected
	}
	for _, catchAll := range []bool{false, true} {
		for i, r := range v.routes {
			if istioroute.IsCatchAllRoute(r) == catchAll && envoyMatches(r.Match, path) {
				return v.targets[i]
			}
		}
	}
	return notFound
}

// envoyMatches is Envoy's path matching of a RouteMatch.
func envoyMatches(m *route.RouteMatch, path string) bool {
	cs := m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	p := path
	if !cs {
		p = strings.ToLower(p)
	}
	fold := func(s string) string {
		if cs {
			return s
		}
		return strings.ToLower(s)
	}
	switch ps := m.PathSpecifier.(type) {
	case *route.RouteMatch_Path:
		return p == fold(ps.Path)
	case *route.RouteMatch_Prefix:
		return strings.HasPrefix(p, fold(ps.Prefix))
	case *route.RouteMatch_PathSeparatedPrefix:
		pre := fold(ps.PathSeparatedPrefix)
		return p == pre || strings.HasPrefix(p, pre+"/")
	case *route.RouteMatch_SafeRegex:
		return regexp.MustCompile("^(?:" + ps.SafeRegex.GetRegex() + ")$").MatchString(path)
	}
	return false
}

// intersect is the virtual host of a server host and a VirtualService host:
// the more specific one when one covers the other.
func intersect(server, vs string) (string, bool) {
	s, v := host.Name(server), host.Name(vs)
	switch {
	case v.SubsetOf(s):
		return vs, true
	case s.SubsetOf(v):
		return server, true
	}
	return "", false
}

// hostScore ranks how hosts match h: -1 not at all, 0 "*", then
// wildcards by length, then exact names.
func hostScore(hosts []string, h string) int {
	best := -1
	for _, x := range hosts {
		switch {
		case x == h:
			best = max(best, 10000+len(x))
		case x == "*":
			best = max(best, 0)
		case strings.HasPrefix(x, "*.") && strings.HasSuffix(h, x[1:]):
			best = max(best, len(x))
		}
	}
	return best
}
