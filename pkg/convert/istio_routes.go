package convert

import (
	"cmp"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// virtualServices writes a VirtualService per host and namespace of g,
// bound to the Istio Gateway, its routes in Ingress precedence.
func (c *converter) virtualServices(g *gateway, groups []*hostGroup) []*VirtualService {
	var out []*VirtualService
	for _, hg := range groups {
		if len(hg.rules) == 0 {
			continue
		}
		names, base := c.routeName(hg)
		rules := slices.Clone(hg.rules)
		slices.SortStableFunc(rules, precedence)
		var from []*ingress
		for _, ru := range rules {
			from = appendNew(from, ru.ing)
		}
		vs := &VirtualService{
			TypeMeta:   metav1.TypeMeta{APIVersion: IstioAPIVersion, Kind: "VirtualService"},
			ObjectMeta: meta(names.take(base, maxSubdomain), hg.ns, from),
			Spec:       VirtualServiceSpec{Hosts: []string{istioHost(hg.host)}, Gateways: []string{g.ns + "/" + g.name}},
		}
		for _, ru := range rules {
			vs.Spec.HTTP = append(vs.Spec.HTTP, ru.istioRoute(hg.ns))
		}
		out = append(out, vs)
	}
	return out
}

// precedence orders routes as Istio's own Ingress translation does
// (sortHTTPRoutes): the longest path first, an exact match before a prefix
// of the same length. A VirtualService takes the first route that matches,
// and of the Ingress paths that match a request the longest wins, an Exact
// one on a tie. Prefix paths count without their trailing slash (they
// match the same requests); regular expressions count the length of the
// Ingress path, as ingress-nginx orders its locations.
func precedence(a, b *rule) int {
	la, ea := a.sortKey()
	lb, eb := b.sortKey()
	if la != lb {
		return cmp.Compare(lb, la)
	}
	switch {
	case ea && !eb:
		return -1
	case eb && !ea:
		return 1
	}
	return 0
}

func (ru *rule) sortKey() (length int, exact bool) {
	switch ru.typ {
	case gatewayv1.PathMatchExact:
		return len(ru.value), true
	case gatewayv1.PathMatchRegularExpression:
		return len(ru.path), false
	}
	return len(ru.value), false
}

// istioRoute is the VirtualService route of a rule of namespace ns.
func (ru *rule) istioRoute(ns string) IstioHTTPRoute {
	out := IstioHTTPRoute{Match: istioMatches(ru.typ, ru.value)}
	if len(ru.backends) == 0 {
		out.DirectResponse = &IstioDirectResponse{Status: 500}
		return out
	}
	b := ru.backends[0]
	out.Route = []IstioRouteDest{{Destination: IstioDestination{
		Host: fmt.Sprintf("%s.%s.svc.%s", b.Name, ns, ClusterDomain),
		Port: IstioPortSelector{Number: uint32(ptr.Deref(b.Port, 0))},
	}}}
	if f := ru.filter; f != nil && f.URLRewrite != nil && f.URLRewrite.Path != nil && f.URLRewrite.Path.ReplaceFullPath != nil {
		target := *f.URLRewrite.Path.ReplaceFullPath
		if ru.typ == gatewayv1.PathMatchExact {
			// rewrite.uri replaces the matched prefix, which for an
			// exact match is the whole path.
			out.Rewrite = &IstioRewrite{URI: target}
		} else {
			out.Rewrite = &IstioRewrite{URIRegexRewrite: &IstioRegexRewrite{Match: wholePath, Rewrite: target}}
		}
	}
	return out
}

// wholePath matches a whole request path, once.
const wholePath = "^.*$"

// istioMatches are the uri matches of a path match. A prefix keeps Ingress
// Prefix semantics (whole path segments, /foo/ as /foo) with an exact match
// on the path and a prefix match on the path and "/": the element-wise
// matching istiod gives its own Ingress translation (Envoy's
// path_separated_prefix, through an internal annotation a user's
// VirtualService cannot set), where a plain uri prefix /foo would match
// /foobar too.
func istioMatches(t gatewayv1.PathMatchType, value string) []IstioHTTPMatch {
	switch t {
	case gatewayv1.PathMatchExact:
		return []IstioHTTPMatch{{URI: IstioStringMatch{Exact: value}}}
	case gatewayv1.PathMatchRegularExpression:
		return []IstioHTTPMatch{{URI: IstioStringMatch{Regex: value}}}
	}
	if value == "/" {
		return []IstioHTTPMatch{{URI: IstioStringMatch{Prefix: "/"}}}
	}
	return []IstioHTTPMatch{{URI: IstioStringMatch{Exact: value}}, {URI: IstioStringMatch{Prefix: value + "/"}}}
}
