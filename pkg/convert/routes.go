package convert

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Limits of one HTTPRoute (the CRD's).
const (
	maxRules        = 16
	maxRouteMatches = 128
	// redirectCode is ingress-nginx's default for ssl-redirect and
	// force-ssl-redirect (its http-redirect-code).
	redirectCode = 308
	// anyHostRoute names the route of rules without a host.
	anyHostRoute = "any-host"
)

// hostGroup gathers the rules of one namespace for one host ("" for rules
// without host): they become one HTTPRoute (split when it would exceed the
// CRD's limits).
type hostGroup struct {
	ns, host string
	rules    []*rule
	from     []*ingress
	seen     map[[2]string]*rule
}

// rule is one Ingress path as a route rule.
type rule struct {
	ing   *ingress
	where string
	typ   gatewayv1.PathMatchType
	value string
	// path is the Ingress path as written ("" for a default backend).
	path     string
	backends []gatewayv1.HTTPBackendRef
	filter   *gatewayv1.HTTPRouteFilter
}

// httpMode says what the Gateway's HTTP listener does with a rule.
type httpMode int

const (
	serve httpMode = iota
	redirect
	notServed
)

// mode of a rule of host on the HTTP listener.
func (i *ingress) mode(host string) httpMode {
	switch {
	case !i.allowHTTP:
		return notServed
	case i.forceRedirect:
		return redirect
	case !i.sslRedirect:
		return serve
	case (i.controller == ctrlNginx || i.Annotations[annSSLRedirect] != "") && i.hasTLS(host):
		return redirect
	}
	return serve
}

// hasTLS reports whether a spec.tls entry with a Secret covers host.
func (i *ingress) hasTLS(host string) bool {
	for _, t := range i.Spec.TLS {
		if t.SecretName != "" && (len(t.Hosts) == 0 || slices.Contains(t.Hosts, host)) {
			return true
		}
	}
	return false
}

// groups collects the rules of g's Ingresses by namespace and host, in the
// order the hosts first appear, the rules without host last.
func (c *converter) groups(g *gateway) []*hostGroup {
	var out []*hostGroup
	index := map[[2]string]*hostGroup{}
	get := func(ing *ingress, host string) *hostGroup {
		k := [2]string{ing.ns, host}
		hg := index[k]
		if hg == nil {
			hg = &hostGroup{ns: ing.ns, host: host, seen: map[[2]string]*rule{}}
			index[k] = hg
			out = append(out, hg)
		}
		if !slices.Contains(hg.from, ing) {
			hg.from = append(hg.from, ing)
		}
		return hg
	}
	r := &c.res.Report
	for _, ing := range g.ingresses {
		for i, ir := range ing.Spec.Rules {
			where := fmt.Sprintf("spec.rules[%d]", i)
			if ir.Host != "" && !validHost(ir.Host) {
				r.add(ing, where+".host", NotCarried, "%q is not a valid %s (lower-case DNS name, optionally starting with *.): fix the host, then convert again; its paths were left out", ir.Host, c.say("Gateway API hostname", "host name"))
				continue
			}
			if strings.HasPrefix(ir.Host, "*.") {
				r.add(ing, where+".host", Approximated, "in an Ingress %s matches one DNS label (a%s), in %s any number (also a.b%s)", ir.Host, ir.Host[1:], c.say("Gateway API", "an Istio Gateway and VirtualService"), ir.Host[1:])
			}
			hg := get(ing, ir.Host)
			if ir.HTTP == nil {
				continue
			}
			for j, p := range ir.HTTP.Paths {
				pw := fmt.Sprintf("%s.http.paths[%d]", where, j)
				typ, value, ok := c.pathMatch(ing, pw, p)
				if !ok {
					continue
				}
				if prev := hg.seen[[2]string{string(typ), value}]; prev != nil {
					r.add(ing, pw+".path", Approximated, "%s is already routed by %s of Ingress %s, which wins", c.term(typ, value), prev.where, prev.ing.key())
					continue
				}
				ru := &rule{ing: ing, where: pw, typ: typ, value: value, path: p.Path, backends: c.backendRef(ing, pw+".backend", p.Backend)}
				ru.filter = c.rewrite(ing, pw)
				hg.seen[[2]string{string(typ), value}] = ru
				hg.rules = append(hg.rules, ru)
			}
		}
	}
	// Default backends: a catch-all rule in each route of the Ingress's
	// hosts and in the route without hostnames.
	for _, ing := range g.ingresses {
		if ing.Spec.DefaultBackend == nil {
			continue
		}
		get(ing, "")
		refs := c.backendRef(ing, "spec.defaultBackend", *ing.Spec.DefaultBackend)
		r.add(ing, "spec.defaultBackend", Carried, "%s", c.say("a catch-all rule (PathPrefix /) last in the route of each of its hosts and in the route without hostnames: requests that match no path reach it",
			"a catch-all route (uri prefix /) last in the VirtualService of each of its hosts and in the VirtualService for host *: requests that match no path reach it (Istio's own Ingress translation ignores spec.defaultBackend)"))
		for _, hg := range out {
			if hg.ns != ing.ns || !slices.Contains(hg.from, ing) {
				continue
			}
			key := [2]string{string(gatewayv1.PathMatchPathPrefix), "/"}
			if prev := hg.seen[key]; prev != nil {
				if prev.ing != ing && !sameBackends(prev.backends, refs) {
					r.add(ing, "spec.defaultBackend", Approximated, "requests for host %s that match no path go to %s of Ingress %s, not to this default backend", displayHost(hg.host), prev.where, prev.ing.key())
				}
				continue
			}
			ru := &rule{ing: ing, where: "spec.defaultBackend", typ: gatewayv1.PathMatchPathPrefix, value: "/", backends: refs}
			hg.seen[key] = ru
			hg.rules = append(hg.rules, ru)
		}
	}
	slices.SortStableFunc(out, func(a, b *hostGroup) int {
		if a.ns != b.ns {
			return strings.Compare(a.ns, b.ns)
		}
		switch {
		case a.host == "" && b.host != "":
			return 1
		case a.host != "" && b.host == "":
			return -1
		}
		return 0
	})
	return out
}

func sameBackends(a, b []gatewayv1.HTTPBackendRef) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || ptr.Deref(a[i].Port, 0) != ptr.Deref(b[i].Port, 0) {
			return false
		}
	}
	return true
}

// rewrite is the URLRewrite filter of a path of an Ingress with a plain
// rewrite-target. ingress-nginx writes it as `rewrite "(?i)PATH" TARGET
// break;`, and nginx's rewrite replaces the whole URI with a replacement
// that holds no captures: ReplaceFullPath, whatever the path type.
func (c *converter) rewrite(ing *ingress, where string) *gatewayv1.HTTPRouteFilter {
	if ing.rewrite == "" {
		return nil
	}
	if !strings.HasPrefix(ing.rewrite, "/") {
		c.res.Report.add(ing, where+".path", NotCarried, "rewrite-target %q is not an absolute path, which %s needs: write it starting with /, then convert again", ing.rewrite, c.say("URLRewrite", "the rewrite"))
		return nil
	}
	return &gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterURLRewrite, URLRewrite: &gatewayv1.HTTPURLRewriteFilter{Path: &gatewayv1.HTTPPathModifier{
		Type: gatewayv1.FullPathHTTPPathModifier, ReplaceFullPath: ptr.To(ing.rewrite),
	}}}
}

// routes builds the HTTPRoutes of Gateway g. With plain HTTP on, a host
// whose rules are all served on both listeners gets one route attached to
// the Gateway as a whole; otherwise one route attaches to the host's HTTPS
// listeners (sectionName) and another to the HTTP listener with the
// redirects and the rules still served over HTTP.
// routeName returns the namer that keeps route names unique in the host
// group's namespace, and the base name of its route: the host, or
// anyHostRoute for rules without one.
func (c *converter) routeName(hg *hostGroup) (namer, string) {
	if c.routeNames == nil {
		c.routeNames = map[string]namer{}
	}
	names := c.routeNames[hg.ns]
	if names == nil {
		names = namer{}
		c.routeNames[hg.ns] = names
	}
	if hg.host == "" {
		return names, anyHostRoute
	}
	return names, sanitize(hg.host, true)
}

func (c *converter) routes(g *gateway, httpOn bool) []*gatewayv1.HTTPRoute {
	var out []*gatewayv1.HTTPRoute
	for _, hg := range c.groups(g) {
		if len(hg.rules) == 0 {
			continue
		}
		names, base := c.routeName(hg)
		parent := gatewayv1.ParentReference{Name: gatewayv1.ObjectName(g.name)}
		if hg.ns != g.ns {
			parent.Namespace = ptr.To(gatewayv1.Namespace(g.ns))
		}
		split := false
		for _, ru := range hg.rules {
			split = split || (httpOn && ru.ing.mode(hg.host) != serve)
		}
		if !split {
			out = append(out, c.route(names, base, hg, []gatewayv1.ParentReference{parent}, hg.rules, nil)...)
			continue
		}
		var parents []gatewayv1.ParentReference
		for _, l := range g.listeners {
			if intersect(l.host, hg.host) {
				p := parent
				p.SectionName = ptr.To(l.Name)
				parents = append(parents, p)
			}
		}
		if len(parents) > 0 {
			out = append(out, c.route(names, base, hg, parents, hg.rules, nil)...)
		} else {
			c.unserved(hg)
		}
		var plain []*rule
		redirects := 0
		for _, ru := range hg.rules {
			switch ru.ing.mode(hg.host) {
			case serve:
				plain = append(plain, ru)
			case redirect:
				plain = append(plain, ru)
				redirects++
			}
		}
		if len(plain) == 0 {
			continue
		}
		p := parent
		p.SectionName = ptr.To(gatewayv1.SectionName(httpListener))
		modes := func(ru *rule) httpMode { return ru.ing.mode(hg.host) }
		if redirects == len(plain) {
			// Everything plain HTTP reaches for this host is redirected.
			plain = []*rule{{typ: gatewayv1.PathMatchPathPrefix, value: "/"}}
			modes = func(*rule) httpMode { return redirect }
		}
		out = append(out, c.route(names, base+"-http", hg, []gatewayv1.ParentReference{p}, plain, modes)...)
	}
	return out
}

// route writes rules as HTTPRoutes named after base, as many as the CRD's
// limits need; mode, when set, turns redirected rules into redirects.
func (c *converter) route(names namer, base string, hg *hostGroup, parents []gatewayv1.ParentReference, rules []*rule, mode func(*rule) httpMode) []*gatewayv1.HTTPRoute {
	var out []*gatewayv1.HTTPRoute
	for start := 0; start < len(rules); start += maxRules {
		chunk := rules[start:min(start+maxRules, len(rules))]
		var from []*ingress
		for _, ru := range chunk {
			if ru.ing != nil && !slices.Contains(from, ru.ing) {
				from = append(from, ru.ing)
			}
		}
		if len(from) == 0 {
			from = hg.from
		}
		rt := &gatewayv1.HTTPRoute{
			TypeMeta:   metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: "HTTPRoute"},
			ObjectMeta: meta(names.take(base, maxSubdomain), hg.ns, from),
		}
		rt.Spec.ParentRefs = parents
		if hg.host != "" {
			rt.Spec.Hostnames = []gatewayv1.Hostname{gatewayv1.Hostname(hg.host)}
		}
		for _, ru := range chunk {
			rt.Spec.Rules = append(rt.Spec.Rules, ru.toRule(mode != nil && mode(ru) == redirect))
		}
		out = append(out, rt)
	}
	return out
}

func (ru *rule) toRule(redirected bool) gatewayv1.HTTPRouteRule {
	out := gatewayv1.HTTPRouteRule{Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{
		Type: ptr.To(ru.typ), Value: ptr.To(ru.value),
	}}}}
	if redirected {
		out.Filters = []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gatewayv1.HTTPRequestRedirectFilter{
			Scheme: ptr.To("https"), StatusCode: ptr.To(redirectCode),
		}}}
		return out
	}
	if ru.filter != nil {
		out.Filters = []gatewayv1.HTTPRouteFilter{*ru.filter}
	}
	out.BackendRefs = ru.backends
	return out
}

// intersect reports whether a listener hostname ("" for none) accepts
// routes for host ("" for a route without hostnames), as Gateway API
// attaches them.
func intersect(listener, host string) bool {
	switch {
	case listener == "" || host == "" || listener == host:
		return true
	case strings.HasPrefix(listener, "*.") && strings.HasSuffix(host, listener[1:]):
		return true
	case strings.HasPrefix(host, "*.") && strings.HasSuffix(listener, host[1:]):
		return true
	}
	return false
}

// unserved reports the Ingresses whose rules for a host reach no listener:
// plain HTTP is off for them and no HTTPS listener covers the host.
func (c *converter) unserved(hg *hostGroup) {
	var done []*ingress
	for _, ru := range hg.rules {
		if ru.ing.mode(hg.host) != notServed || slices.Contains(done, ru.ing) {
			continue
		}
		done = append(done, ru.ing)
		c.res.Report.add(ru.ing, annAllowHTTP, NotCarried, "plain HTTP is off and no spec.tls entry covers host %s, so nothing serves its rules: add the host to a spec.tls entry with a Secret, or allow HTTP", displayHost(hg.host))
	}
}
