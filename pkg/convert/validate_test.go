package convert

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// validate checks the emitted objects against the Gateway API CRDs' rules
// (v1.6.3 standard channel). The gateway-api module has Go validation only
// for GatewayClass; the CRDs validate with OpenAPI and CEL, so the rules
// that conversions can break are restated here.
func validate(t *testing.T, res *Result) {
	t.Helper()
	for _, err := range validationErrors(res) {
		t.Error(err)
	}
}

func validationErrors(res *Result) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	name := func(kind, n string) {
		if e := validation.IsDNS1123Subdomain(n); len(e) > 0 {
			bad("%s name %q: %v", kind, n, e)
		}
	}
	for _, g := range res.Gateways {
		name("Gateway", g.Name)
		if n := len(g.Spec.Listeners); n < 1 || n > 64 {
			bad("Gateway %s has %d listeners", g.Name, n)
		}
		seen := map[string]bool{}
		for _, l := range g.Spec.Listeners {
			if e := validation.IsDNS1123Label(string(l.Name)); len(e) > 0 {
				bad("listener name %q: %v", l.Name, e)
			}
			key := fmt.Sprintf("%d/%s/%s", l.Port, l.Protocol, ptr.Deref(l.Hostname, ""))
			if seen[string(l.Name)] || seen[key] {
				bad("listener %s repeats a name or a port, protocol and hostname", l.Name)
			}
			seen[string(l.Name)], seen[key] = true, true
			if l.Hostname != nil && !validHost(string(*l.Hostname)) {
				bad("listener hostname %q", *l.Hostname)
			}
			if l.Protocol == gatewayv1.HTTPSProtocolType && (l.TLS == nil || len(l.TLS.CertificateRefs) == 0) {
				bad("HTTPS listener %s without certificateRefs", l.Name)
			}
			if l.Protocol == gatewayv1.HTTPProtocolType && l.TLS != nil {
				bad("HTTP listener %s with tls", l.Name)
			}
		}
	}
	for _, rt := range res.HTTPRoutes {
		name("HTTPRoute", rt.Name)
		if n := len(rt.Spec.Rules); n < 1 || n > 16 {
			bad("HTTPRoute %s has %d rules", rt.Name, n)
		}
		if len(rt.Spec.Hostnames) > 16 || len(rt.Spec.ParentRefs) > 32 || len(rt.Spec.ParentRefs) == 0 {
			bad("HTTPRoute %s: %d hostnames, %d parentRefs", rt.Name, len(rt.Spec.Hostnames), len(rt.Spec.ParentRefs))
		}
		for _, h := range rt.Spec.Hostnames {
			if !validHost(string(h)) {
				bad("HTTPRoute %s hostname %q", rt.Name, h)
			}
		}
		matches := 0
		for _, r := range rt.Spec.Rules {
			matches += len(r.Matches)
			if len(r.Matches) > 64 || len(r.BackendRefs) > 16 {
				bad("HTTPRoute %s: a rule with %d matches, %d backendRefs", rt.Name, len(r.Matches), len(r.BackendRefs))
			}
			for _, m := range r.Matches {
				typ, v := ptr.Deref(m.Path.Type, gatewayv1.PathMatchPathPrefix), ptr.Deref(m.Path.Value, "/")
				if typ != gatewayv1.PathMatchRegularExpression {
					if err := validPath(v); err != nil {
						bad("HTTPRoute %s path %q: %v", rt.Name, v, err)
					}
				}
				if len(v) > 1024 {
					bad("HTTPRoute %s: path longer than 1024", rt.Name)
				}
			}
			redirect, rewrite := false, false
			for _, f := range r.Filters {
				switch f.Type {
				case gatewayv1.HTTPRouteFilterRequestRedirect:
					redirect = f.RequestRedirect != nil
				case gatewayv1.HTTPRouteFilterURLRewrite:
					rewrite = f.URLRewrite != nil
					if p := f.URLRewrite.Path; p != nil && p.Type == gatewayv1.PrefixMatchHTTPPathModifier &&
						(len(r.Matches) != 1 || ptr.Deref(r.Matches[0].Path.Type, "") != gatewayv1.PathMatchPathPrefix) {
						bad("HTTPRoute %s: ReplacePrefixMatch needs exactly one PathPrefix match", rt.Name)
					}
				}
			}
			if redirect && (rewrite || len(r.BackendRefs) > 0) {
				bad("HTTPRoute %s: RequestRedirect with URLRewrite or backendRefs", rt.Name)
			}
			for _, b := range r.BackendRefs {
				if b.Port == nil || *b.Port < 1 {
					bad("HTTPRoute %s: backendRef %s without port", rt.Name, b.Name)
				}
			}
		}
		if matches > 128 {
			bad("HTTPRoute %s has %d matches", rt.Name, matches)
		}
	}
	for _, rg := range res.ReferenceGrants {
		name("ReferenceGrant", rg.Name)
		if len(rg.Spec.From) == 0 || len(rg.Spec.To) == 0 {
			bad("ReferenceGrant %s without from or to", rg.Name)
		}
	}
	return append(errs, istioValidationErrors(res)...)
}
