package convert

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// istioValidationErrors checks the Istio objects against the rules of
// istiod's validation that a conversion can break (test/istio runs
// istiod's own validation on the goldens): names, servers with hosts and
// unique port names, HTTPS servers with SIMPLE TLS from a credentialName
// and never file-mounted certificates, VirtualServices with hosts, the
// Gateway and http routes that each match, route or answer.
func istioValidationErrors(res *Result) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	gateways := map[string]bool{}
	for _, g := range res.IstioGateways {
		gateways[g.Namespace+"/"+g.Name] = true
		if e := validation.IsDNS1123Subdomain(g.Name); len(e) > 0 {
			bad("Istio Gateway name %q: %v", g.Name, e)
		}
		if len(g.Spec.Servers) == 0 || g.Spec.Selector["istio"] != IstioSelector {
			bad("Istio Gateway %s: %d servers, selector %v", g.Name, len(g.Spec.Servers), g.Spec.Selector)
		}
		ports := map[string]bool{}
		for _, s := range g.Spec.Servers {
			if s.Port.Name == "" || ports[s.Port.Name] {
				bad("Istio Gateway %s: server port name %q empty or repeated", g.Name, s.Port.Name)
			}
			ports[s.Port.Name] = true
			if len(s.Hosts) == 0 {
				bad("Istio Gateway %s: server %s without hosts", g.Name, s.Port.Name)
			}
			for _, h := range s.Hosts {
				if h != anyHost && !validHost(h) {
					bad("Istio Gateway %s: host %q", g.Name, h)
				}
			}
			switch s.Port.Protocol {
			case "HTTPS":
				if s.Port.Number != 443 || s.TLS == nil || s.TLS.Mode != "SIMPLE" || s.TLS.CredentialName == "" || s.TLS.HTTPSRedirect {
					bad("Istio Gateway %s: HTTPS server %s must be port 443, tls SIMPLE with a credentialName: %+v", g.Name, s.Port.Name, s.TLS)
				}
			case "HTTP":
				if s.Port.Number != 80 || s.TLS != nil && (s.TLS.Mode != "" || s.TLS.CredentialName != "" || !s.TLS.HTTPSRedirect) {
					bad("Istio Gateway %s: HTTP server %s must be port 80, tls only for httpsRedirect: %+v", g.Name, s.Port.Name, s.TLS)
				}
			default:
				bad("Istio Gateway %s: protocol %q", g.Name, s.Port.Protocol)
			}
		}
	}
	for _, vs := range res.VirtualServices {
		if e := validation.IsDNS1123Subdomain(vs.Name); len(e) > 0 {
			bad("VirtualService name %q: %v", vs.Name, e)
		}
		if len(vs.Spec.Hosts) != 1 || len(vs.Spec.Gateways) != 1 || !gateways[vs.Spec.Gateways[0]] || len(vs.Spec.HTTP) == 0 {
			bad("VirtualService %s: hosts %v, gateways %v (of no emitted Gateway?), %d routes", vs.Name, vs.Spec.Hosts, vs.Spec.Gateways, len(vs.Spec.HTTP))
		}
		for _, h := range vs.Spec.HTTP {
			if (len(h.Route) == 1) == (h.DirectResponse != nil) || len(h.Match) == 0 {
				bad("VirtualService %s: a route needs matches and one destination or a directResponse: %+v", vs.Name, h)
			}
			for _, m := range h.Match {
				u := m.URI
				set := 0
				for _, v := range []string{u.Exact, u.Prefix, u.Regex} {
					if v != "" {
						set++
					}
				}
				if set != 1 {
					bad("VirtualService %s: a uri match needs exactly one of exact, prefix, regex: %+v", vs.Name, u)
				}
				if _, err := regexp.Compile(u.Regex); err != nil {
					bad("VirtualService %s: regex %q: %v", vs.Name, u.Regex, err)
				}
			}
			for _, d := range h.Route {
				if d.Destination.Port.Number < 1 || d.Destination.Port.Number > 65535 || !strings.HasSuffix(d.Destination.Host, ".svc."+ClusterDomain) {
					bad("VirtualService %s: destination %+v", vs.Name, d.Destination)
				}
			}
			if rw := h.Rewrite; rw != nil && (rw.URI == "") == (rw.URIRegexRewrite == nil) {
				bad("VirtualService %s: rewrite needs one of uri and uriRegexRewrite: %+v", vs.Name, rw)
			}
		}
	}
	return errs
}
