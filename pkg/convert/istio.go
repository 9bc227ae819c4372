package convert

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Server port names of the Istio Gateway.
const (
	istioHTTPServer     = "http"
	istioRedirectServer = "http-redirect"
	anyHost             = "*"
)

// buildIstio writes the Istio Gateway of g and its VirtualServices: the
// same grouping as the Gateway API target, the same per-path analysis.
func (c *converter) buildIstio(g *gateway) {
	groups := c.groups(g)
	names := namer{istioHTTPServer: true, istioRedirectServer: true}
	tls := c.tlsServers(g, names)
	servers := append(c.httpServers(g, groups, tls), tls...)
	if len(servers) == 0 {
		for _, ing := range g.ingresses {
			c.res.Report.add(ing, annAllowHTTP, NotCarried, "plain HTTP is off and no spec.tls entry has a secretName, so the Istio Gateway would have no server and none was written: add a spec.tls entry (or the certificate's Secret), or allow HTTP")
		}
		return
	}
	gw := &IstioGateway{
		TypeMeta:   metav1.TypeMeta{APIVersion: IstioAPIVersion, Kind: "Gateway"},
		ObjectMeta: meta(g.name, g.ns, g.ingresses),
		Spec:       IstioGatewaySpec{Selector: map[string]string{"istio": IstioSelector}, Servers: servers},
	}
	c.res.IstioGateways = append(c.res.IstioGateways, gw)
	c.res.order = append(c.res.order, gw)
	c.sharedHosts(groups)
	c.anyHostMerge(groups, servers)
	for _, vs := range c.virtualServices(g, groups) {
		c.res.VirtualServices = append(c.res.VirtualServices, vs)
		c.res.order = append(c.res.order, vs)
	}
}

// tlsServers writes an HTTPS server per spec.tls entry with a Secret, for
// its hosts ("*" when it names none); a host keeps the first certificate
// given for it.
func (c *converter) tlsServers(g *gateway, names namer) []IstioServer {
	r := &c.res.Report
	if c.credentials == nil {
		c.credentials = map[string]string{}
	}
	var out []IstioServer
	claimed := map[string][2]string{}
	from := map[string]*ingress{}
	for _, ing := range g.ingresses {
		for i, t := range ing.Spec.TLS {
			where := fmt.Sprintf("spec.tls[%d]", i)
			if t.SecretName == "" {
				r.add(ing, where+".secretName", NotCarried, "the entry names no Secret (the controller used a default or cloud certificate): create a kubernetes.io/tls Secret with the certificate in %s and name it in the credentialName of an HTTPS server of the Istio Gateway", IstioGatewayNamespace)
				continue
			}
			secret := [2]string{ing.ns, t.SecretName}
			hosts := t.Hosts
			if len(hosts) == 0 {
				hosts = []string{anyHost}
			}
			var kept []string
			for _, h := range hosts {
				if h != anyHost && !validHost(h) {
					r.add(ing, where+".hosts", NotCarried, "%q is not a valid host name (lower-case DNS name, optionally starting with *.): fix the host, then convert again", h)
					continue
				}
				if prev, ok := claimed[h]; ok {
					if prev != secret {
						r.add(ing, where+".secretName", Approximated, "host %q already has an HTTPS server with Secret %s/%s (from Ingress %s); a host gets one certificate, so %s/%s is not used", h, prev[0], prev[1], from[h].key(), secret[0], secret[1])
					}
					continue
				}
				claimed[h], from[h] = secret, ing
				kept = append(kept, h)
			}
			if len(kept) == 0 {
				continue
			}
			name := names.take("https-"+sanitize(t.SecretName, false), maxLabel)
			out = append(out, IstioServer{
				Port:  IstioPort{Number: 443, Name: name, Protocol: "HTTPS"},
				Hosts: kept,
				TLS:   &IstioServerTLS{Mode: "SIMPLE", CredentialName: t.SecretName},
			})
			r.add(ing, where, Carried, "HTTPS server %s (port 443, hosts %s, TLS mode SIMPLE with credentialName %s)", name, strings.Join(kept, ", "), t.SecretName)
			c.secretNamespace(ing, where+".secretName", t.SecretName)
		}
	}
	return out
}

// secretNamespace reports where the Secret of a credentialName must live.
// istiod reads credentialName NAME as the SDS resource kubernetes://NAME,
// which it resolves in the namespace of the gateway proxy itself (not of
// the Gateway object), and it refuses Secrets of any other namespace.
func (c *converter) secretNamespace(ing *ingress, what, secret string) {
	r := &c.res.Report
	if prev, ok := c.credentials[secret]; ok && prev != ing.ns {
		r.add(ing, what, NotCarried, "credentialName %s also names the Secret %s/%s of another Ingress, and both would be read from %s: copy them there under different names and rename one credentialName", secret, prev, secret, IstioGatewayNamespace)
		return
	}
	c.credentials[secret] = ing.ns
	if ing.ns == IstioGatewayNamespace {
		r.add(ing, what, Carried, "the Secret %s is in %s, the namespace of the gateway workload (istio: %s) that reads credentialName", secret, IstioGatewayNamespace, IstioSelector)
		return
	}
	r.add(ing, what, NotCarried, "credentialName %s is read from the namespace of the gateway workload the Istio Gateway selects (istio: %s, the istio-ingressgateway in %s), never from the Gateway's or the Ingress's namespace: istiod resolves it as kubernetes://%s in the gateway proxy's own namespace and refuses Secrets of other namespaces. Copy the Secret %s/%s to %s (or issue its certificate there with cert-manager); until then HTTPS for its hosts fails", secret, IstioSelector, IstioGatewayNamespace, secret, ing.ns, secret, IstioGatewayNamespace)
}

// httpServers writes the port 80 servers: "http" for the hosts served over
// plain HTTP ("*" when every host is), "http-redirect" with
// tls.httpsRedirect for the hosts whose plain HTTP is redirected; hosts
// with plain HTTP off are in neither.
func (c *converter) httpServers(g *gateway, groups []*hostGroup, tls []IstioServer) []IstioServer {
	httpOn := false
	for _, ing := range g.ingresses {
		httpOn = httpOn || ing.allowHTTP
	}
	if !httpOn {
		for _, hg := range groups {
			c.istioUnserved(hg, tls)
		}
		return nil
	}
	var served, redirected []string
	anyServed := false
	for _, hg := range groups {
		if len(hg.rules) == 0 {
			continue
		}
		h := istioHost(hg.host)
		var serves, redirects []*ingress
		for _, ru := range hg.rules {
			switch ru.ing.mode(hg.host) {
			case serve:
				serves = appendNew(serves, ru.ing)
			case redirect:
				redirects = appendNew(redirects, ru.ing)
			}
		}
		switch {
		case len(serves) > 0:
			served = appendNew(served, h)
			anyServed = anyServed || h == anyHost
			c.mixedHTTP(hg, serves[0])
		case len(redirects) > 0:
			redirected = appendNew(redirected, h)
			c.defaultRedirect(hg, redirects)
		default:
			c.istioUnserved(hg, tls)
		}
	}
	if anyServed || len(redirected) == 0 && len(served) > 0 && c.everyHostServed(groups) {
		served = []string{anyHost}
	}
	if slices.Contains(served, anyHost) {
		c.servedByAnyHost(groups)
	}
	var out []IstioServer
	if len(served) > 0 {
		out = append(out, IstioServer{Port: IstioPort{Number: 80, Name: istioHTTPServer, Protocol: "HTTP"}, Hosts: served})
	}
	if len(redirected) > 0 {
		out = append(out, IstioServer{Port: IstioPort{Number: 80, Name: istioRedirectServer, Protocol: "HTTP"}, Hosts: redirected, TLS: &IstioServerTLS{HTTPSRedirect: true}})
	}
	return out
}

// everyHostServed: every rule of every host is served over plain HTTP.
func (c *converter) everyHostServed(groups []*hostGroup) bool {
	for _, hg := range groups {
		for _, ru := range hg.rules {
			if ru.ing.mode(hg.host) != serve {
				return false
			}
		}
	}
	return true
}

// mixedHTTP reports the rules of a host served over plain HTTP that their
// Ingress redirects or does not serve: an Istio Gateway server serves or
// redirects whole hosts.
func (c *converter) mixedHTTP(hg *hostGroup, by *ingress) {
	var done []*ingress
	for _, ru := range hg.rules {
		m := ru.ing.mode(hg.host)
		if m == serve || slices.Contains(done, ru.ing) {
			continue
		}
		done = append(done, ru.ing)
		if m == redirect {
			c.res.Report.add(ru.ing, redirectAnnotation(ru.ing), Approximated, "plain HTTP requests for host %s are served, not redirected: Ingress %s serves plain HTTP for the same host, and an Istio Gateway server redirects whole hosts (tls.httpsRedirect)", displayHost(hg.host), by.key())
		} else {
			c.res.Report.add(ru.ing, annAllowHTTP, Approximated, "plain HTTP reaches this Ingress's rules for host %s too: Ingress %s serves plain HTTP for the same host, and an Istio Gateway server serves whole hosts", displayHost(hg.host), by.key())
		}
	}
}

// servedByAnyHost reports the hosts with plain HTTP off that the port 80
// server serves anyway, because it holds "*".
func (c *converter) servedByAnyHost(groups []*hostGroup) {
	for _, hg := range groups {
		if hg.host == "" {
			continue
		}
		var done []*ingress
		for _, ru := range hg.rules {
			if ru.ing.mode(hg.host) != notServed || slices.Contains(done, ru.ing) {
				continue
			}
			done = append(done, ru.ing)
			c.res.Report.add(ru.ing, annAllowHTTP, Approximated, "plain HTTP reaches this Ingress's rules for host %s too: the Istio Gateway's port 80 server holds * for rules served over plain HTTP, and a VirtualService cannot leave out one port of its Gateway; give those rules a host, or split the Ingresses across Gateways (--gateway)", hg.host)
		}
	}
}

// defaultRedirect reports the hosts ingress-nginx redirects to HTTPS
// without an annotation saying so (ssl-redirect defaults to true for hosts
// with TLS), as their redirect answers 301, not 308.
func (c *converter) defaultRedirect(hg *hostGroup, by []*ingress) {
	for _, ing := range by {
		if ing.Annotations[annSSLRedirect] == "" && ing.Annotations[annForceRedirect] == "" {
			c.res.Report.add(ing, annSSLRedirect, Approximated, "ingress-nginx redirects plain HTTP for hosts with TLS by default (ssl-redirect true): the Istio Gateway's port 80 server redirects host %s to https (tls.httpsRedirect), with 301 where nginx answers 308", hg.host)
		}
	}
}

func redirectAnnotation(ing *ingress) string {
	if ing.forceRedirect {
		return annForceRedirect
	}
	return annSSLRedirect
}

// istioUnserved reports the Ingresses whose rules for a host reach no
// server: plain HTTP is off for them and no HTTPS server covers the host.
func (c *converter) istioUnserved(hg *hostGroup, tls []IstioServer) {
	if hg.host == "" && len(tls) > 0 {
		// The VirtualService for "*" joins every HTTPS server's hosts.
		return
	}
	for _, s := range tls {
		for _, h := range s.Hosts {
			if hostCovers(h, istioHost(hg.host)) {
				return
			}
		}
	}
	c.unserved(hg)
}

// hostCovers: a server host accepts requests for host.
func hostCovers(server, host string) bool {
	switch {
	case server == anyHost || server == host:
		return true
	case strings.HasPrefix(server, "*.") && strings.HasSuffix(host, server[1:]):
		return true
	}
	return false
}

// sharedHosts reports the hosts that have VirtualServices in several
// namespaces on one Gateway: istiod concatenates them without sorting.
func (c *converter) sharedHosts(groups []*hostGroup) {
	first := map[string]*hostGroup{}
	for _, hg := range groups {
		if len(hg.rules) == 0 {
			continue
		}
		prev, ok := first[hg.host]
		if !ok {
			first[hg.host] = hg
			continue
		}
		ing := hg.from[0]
		c.res.Report.add(ing, ruleWhere(ing, hg.host), Approximated, "host %s also has a VirtualService in namespace %s on this Istio Gateway: istiod appends the routes of the VirtualServices of one host in creation order, without sorting them by path, so a path of one can shadow a longer one of the other; move the host's Ingresses into one namespace", displayHost(hg.host), prev.ns)
	}
}

// anyHostMerge reports the rules without host when the Gateway's servers
// name hosts that have rules of their own: istiod adds the routes of the
// VirtualService for "*" to the routes of each host a server names
// (ordered by VirtualService creation time, then name; catch-all routes
// last), where an Ingress keeps the rules without host apart.
func (c *converter) anyHostMerge(groups []*hostGroup, servers []IstioServer) {
	var named []string
	for _, s := range servers {
		for _, h := range s.Hosts {
			if h != anyHost {
				named = appendNew(named, h)
			}
		}
	}
	var hosts []string
	allCatchAll := true
	for _, hg := range groups {
		if hg.host != "" && len(hg.rules) > 0 && slices.Contains(named, hg.host) {
			hosts = appendNew(hosts, hg.host)
			allCatchAll = allCatchAll && hg.seen[[2]string{string(gatewayv1.PathMatchPathPrefix), "/"}] != nil
		}
	}
	if len(hosts) == 0 {
		return
	}
	for _, hg := range groups {
		if hg.host != "" {
			continue
		}
		var done []*ingress
		for _, ru := range hg.rules {
			if (ru.where == "spec.defaultBackend" && allCatchAll) || slices.Contains(done, ru.ing) {
				continue
			}
			done = append(done, ru.ing)
			c.res.Report.add(ru.ing, ruleWhere(ru.ing, ""), Approximated, "the VirtualService for host * also serves the hosts the Istio Gateway's servers name (%s): istiod merges its routes into theirs, ordered by VirtualService creation time then name (catch-all routes last), so these rules can shadow those hosts' paths or catch their requests that match no path, where an Ingress keeps them apart; give the rules a host", strings.Join(hosts, ", "))
		}
	}
}

// ruleWhere is the field path of the first rule of ing for host.
func ruleWhere(ing *ingress, host string) string {
	for i, r := range ing.Spec.Rules {
		if r.Host == host {
			return fmt.Sprintf("spec.rules[%d].host", i)
		}
	}
	return "spec.defaultBackend"
}

func istioHost(h string) string {
	if h == "" {
		return anyHost
	}
	return h
}

func appendNew[T comparable](s []T, v T) []T {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
