package convert

import (
	"fmt"
	"regexp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// Listener names and limits.
const (
	httpListener = "http"
	maxListeners = 64
)

// gateway collects what one Gateway replaces.
type gateway struct {
	name, ns  string
	ingresses []*ingress
	listeners []*listener
	// grants are the certificate Secrets in other namespaces, by namespace.
	grants map[string][]string
}

// listener is an HTTPS listener and where its certificate came from.
type listener struct {
	gatewayv1.Listener
	host   string // "" for a listener without hostname
	secret [2]string
	from   *ingress
}

// hostnamePattern is the CRD's pattern for listener and route hostnames.
var hostnamePattern = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func validHost(h string) bool { return len(h) <= maxSubdomain && hostnamePattern.MatchString(h) }

// build writes the Gateway g, its routes and its ReferenceGrants.
func (c *converter) build(g *gateway) {
	names := namer{httpListener: true}
	for _, ing := range g.ingresses {
		c.tlsListeners(g, ing, names)
	}
	httpOn := false
	for _, ing := range g.ingresses {
		httpOn = httpOn || ing.allowHTTP
	}
	routes := c.routes(g, httpOn)

	gw := &gatewayv1.Gateway{
		TypeMeta:   metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: "Gateway"},
		ObjectMeta: meta(g.name, g.ns, g.ingresses),
		Spec:       gatewayv1.GatewaySpec{GatewayClassName: GatewayClassName},
	}
	allowed := allowedRoutes(g, routes)
	if httpOn {
		gw.Spec.Listeners = append(gw.Spec.Listeners, gatewayv1.Listener{
			Name: httpListener, Port: 80, Protocol: gatewayv1.HTTPProtocolType, AllowedRoutes: allowed,
		})
	}
	for _, l := range g.listeners {
		l.AllowedRoutes = allowed
		gw.Spec.Listeners = append(gw.Spec.Listeners, l.Listener)
	}
	gw.Spec.Addresses = c.addresses(g)

	for _, ns := range sortedKeys(g.grants) {
		rg := &gatewayv1beta1.ReferenceGrant{
			TypeMeta:   metav1.TypeMeta{APIVersion: gatewayv1beta1.GroupVersion.String(), Kind: "ReferenceGrant"},
			ObjectMeta: meta(fit(g.name+"-"+g.ns+"-tls", maxSubdomain), ns, ingressesIn(g.ingresses, ns)),
			Spec: gatewayv1beta1.ReferenceGrantSpec{
				From: []gatewayv1beta1.ReferenceGrantFrom{{Group: gatewayv1.GroupName, Kind: "Gateway", Namespace: gatewayv1.Namespace(g.ns)}},
			},
		}
		for _, s := range g.grants[ns] {
			rg.Spec.To = append(rg.Spec.To, gatewayv1beta1.ReferenceGrantTo{Group: "", Kind: "Secret", Name: ptr.To(gatewayv1.ObjectName(s))})
		}
		c.res.ReferenceGrants = append(c.res.ReferenceGrants, rg)
		c.res.order = append(c.res.order, rg)
	}
	if len(gw.Spec.Listeners) == 0 {
		// Every Ingress turned plain HTTP off and none has TLS: there is
		// nothing to serve, and a Gateway needs a listener.
		for _, ing := range g.ingresses {
			c.res.Report.add(ing, annAllowHTTP, NotCarried, "plain HTTP is off and no spec.tls entry has a secretName, so the Gateway would have no listener and none was written: add a spec.tls entry (or the certificate's Secret), or allow HTTP")
		}
		return
	}
	c.res.Gateways = append(c.res.Gateways, gw)
	c.res.order = append(c.res.order, gw)
	for _, rt := range routes {
		c.res.HTTPRoutes = append(c.res.HTTPRoutes, rt)
		c.res.order = append(c.res.order, rt)
	}
}

// tlsListeners adds an HTTPS listener per host of each spec.tls entry of
// ing (one without hostname when the entry names no hosts).
func (c *converter) tlsListeners(g *gateway, ing *ingress, names namer) {
	r := &c.res.Report
	for i, t := range ing.Spec.TLS {
		where := fmt.Sprintf("spec.tls[%d]", i)
		if t.SecretName == "" {
			r.add(ing, where+".secretName", NotCarried, "the entry names no Secret (the controller used a default or cloud certificate): create a kubernetes.io/tls Secret with the certificate and add it to the certificateRefs of the Gateway's HTTPS listeners")
			continue
		}
		hosts := t.Hosts
		if len(hosts) == 0 {
			hosts = []string{""}
		}
		secret := [2]string{ing.ns, t.SecretName}
		var made []string
		for _, h := range hosts {
			if h != "" && !validHost(h) {
				r.add(ing, where+".hosts", NotCarried, "%q is not a valid listener hostname (lower-case DNS name, optionally starting with *.): fix the host, then convert again", h)
				continue
			}
			if l := findListener(g, h); l != nil {
				if l.secret != secret {
					r.add(ing, where+".secretName", Approximated, "host %q already has an HTTPS listener with Secret %s/%s (from Ingress %s); a listener serves one certificate per host, so %s/%s is not used", displayHost(h), l.secret[0], l.secret[1], l.from.key(), secret[0], secret[1])
				}
				continue
			}
			if len(g.listeners)+1 >= maxListeners {
				r.add(ing, where+".hosts", NotCarried, "a Gateway holds at most %d listeners and host %q did not fit: split the Ingresses across Gateways (--gateway)", maxListeners, displayHost(h))
				continue
			}
			base := "https"
			if h != "" {
				base = "https-" + sanitize(h, false)
			}
			l := &listener{host: h, secret: secret, from: ing, Listener: gatewayv1.Listener{
				Name:     gatewayv1.SectionName(names.take(base, maxLabel)),
				Port:     443,
				Protocol: gatewayv1.HTTPSProtocolType,
				TLS: &gatewayv1.ListenerTLSConfig{
					Mode:            ptr.To(gatewayv1.TLSModeTerminate),
					CertificateRefs: []gatewayv1.SecretObjectReference{{Name: gatewayv1.ObjectName(t.SecretName)}},
				},
			}}
			if h != "" {
				l.Hostname = ptr.To(gatewayv1.Hostname(h))
			}
			if ing.ns != g.ns {
				l.TLS.CertificateRefs[0].Namespace = ptr.To(gatewayv1.Namespace(ing.ns))
				if g.grants == nil {
					g.grants = map[string][]string{}
				}
				if !slices.Contains(g.grants[ing.ns], t.SecretName) {
					g.grants[ing.ns] = append(g.grants[ing.ns], t.SecretName)
				}
			}
			g.listeners = append(g.listeners, l)
			made = append(made, string(l.Name))
		}
		if len(made) > 0 {
			grant := ""
			if ing.ns != g.ns {
				grant = fmt.Sprintf(", allowed by a ReferenceGrant in %s", ing.ns)
			}
			r.add(ing, where, Carried, "HTTPS listener %s (port 443, TLS terminated with Secret %s%s)", joinNames(made), t.SecretName, grant)
		}
	}
}

func findListener(g *gateway, host string) *listener {
	for _, l := range g.listeners {
		if l.host == host {
			return l
		}
	}
	return nil
}

func displayHost(h string) string {
	if h == "" {
		return "(any)"
	}
	return h
}

// addresses fills spec.addresses from the static IPs given for the
// Ingresses' static IP annotations.
func (c *converter) addresses(g *gateway) []gatewayv1.GatewaySpecAddress {
	var out []gatewayv1.GatewaySpecAddress
	for _, ing := range g.ingresses {
		for _, k := range []string{annGlobalIP, annRegionalIP} {
			ip, ok := c.opts.StaticIPs[ing.Annotations[k]]
			if !ok || ing.Annotations[k] == "" {
				continue
			}
			a := gatewayv1.GatewaySpecAddress{Type: ptr.To(gatewayv1.IPAddressType), Value: ip}
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// allowedRoutes lets the routes of other namespaces attach when the
// Gateway is shared (--gateway NAME.NS): exactly the namespaces that hold
// converted routes, by their kubernetes.io/metadata.name label.
func allowedRoutes(g *gateway, routes []*gatewayv1.HTTPRoute) *gatewayv1.AllowedRoutes {
	var nss []string
	other := false
	for _, rt := range routes {
		if !slices.Contains(nss, rt.Namespace) {
			nss = append(nss, rt.Namespace)
		}
		other = other || rt.Namespace != g.ns
	}
	if !other {
		return nil
	}
	slices.Sort(nss)
	return &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{
		From: ptr.To(gatewayv1.NamespacesFromSelector),
		Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: nss,
		}}},
	}}
}

func ingressesIn(ings []*ingress, ns string) []*ingress {
	var out []*ingress
	for _, i := range ings {
		if i.ns == ns {
			out = append(out, i)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinNames(n []string) string {
	out := ""
	for i, s := range n {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
