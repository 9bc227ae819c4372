package convert

import (
	"fmt"
	"regexp"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// pathMatch maps one Ingress path to a Gateway API path match and reports
// what it could not keep; ok is false when the path cannot be written.
func (c *converter) pathMatch(ing *ingress, where string, p networkingv1.HTTPIngressPath) (t gatewayv1.PathMatchType, value string, ok bool) {
	r := &c.res.Report
	path := p.Path
	pt := networkingv1.PathTypeImplementationSpecific
	if p.PathType != nil {
		pt = *p.PathType
	}
	switch pt {
	case networkingv1.PathTypeExact:
		t, value = gatewayv1.PathMatchExact, path
	case networkingv1.PathTypePrefix:
		// Ingress Prefix matching is element-wise and ignores a trailing
		// slash, as PathPrefix does: /foo/ and /foo match the same requests.
		t, value = gatewayv1.PathMatchPathPrefix, trimSlash(path)
	default:
		var o Outcome
		var msg string
		t, value, o, msg = c.implementationSpecific(ing, path)
		if o == NotCarried {
			r.add(ing, where+".pathType", o, "%s", msg)
			return "", "", false
		}
		r.add(ing, where+".pathType", o, "%s", msg)
	}
	if t == gatewayv1.PathMatchRegularExpression && c.istio() {
		if _, err := regexp.Compile(value); err != nil {
			r.add(ing, where+".path", NotCarried, "%q is not an RE2 regular expression, which Istio needs: %v; rewrite it, then convert again", value, err)
			return "", "", false
		}
	}
	if t != gatewayv1.PathMatchRegularExpression {
		if err := validPath(value); err != nil {
			r.add(ing, where+".path", NotCarried, c.say("path %q cannot be a Gateway API path match: %v; write it without that, then convert again",
				"path %q is left out: %v (meshguard writes only the paths Gateway API could hold too, which a normalized request path can match); write it without that, then convert again"), path, err)
			return "", "", false
		}
	}
	return t, value, true
}

// implementationSpecific reads an ImplementationSpecific path the way the
// Ingress's controller does.
func (c *converter) implementationSpecific(ing *ingress, path string) (gatewayv1.PathMatchType, string, Outcome, string) {
	prefix, exact := gatewayv1.PathMatchPathPrefix, gatewayv1.PathMatchExact
	if path == "" {
		return prefix, "/", Carried, "ImplementationSpecific without a path matches every request: " + c.term(prefix, "/")
	}
	switch ing.controller {
	case ctrlGCE:
		switch {
		case path == "/*":
			return prefix, "/", Carried, "GCE's /* matches every path: " + c.term(prefix, "/")
		case strings.HasSuffix(path, "/*") && !strings.Contains(strings.TrimSuffix(path, "/*"), "*"):
			base := strings.TrimSuffix(path, "/*")
			return prefix, base, Approximated, fmt.Sprintf("GCE's %s matches the paths below %s/ but not %s itself; %s matches %s too: add an Exact %s rule if that request must go elsewhere", path, base, base, c.term(prefix, base), base, base)
		case !strings.Contains(path, "*"):
			return exact, path, Carried, fmt.Sprintf("GCE matches %s without a * exactly: %s", path, c.say("Exact", "uri exact "+path))
		}
		return "", "", NotCarried, fmt.Sprintf("GCE accepts * only as a final /*; %q has no %s match: rewrite it as Prefix or Exact", path, c.say("Gateway API", "VirtualService"))
	case ctrlNginx:
		if ing.useRegex || (ing.Annotations[annRewriteTarget] != "" && captureGroup.MatchString(ing.Annotations[annRewriteTarget])) {
			re := nginxRegex(path)
			return gatewayv1.PathMatchRegularExpression, re, Approximated, fmt.Sprintf("nginx reads %q as a case-insensitive regular expression anchored at the path's start: %s %q (RE2, whole path); check that the expression means the same in RE2", path, c.say("RegularExpression", "uri regex"), re)
		}
		return prefix, trimSlash(path), Approximated, fmt.Sprintf("nginx matches %s as a plain string prefix (so /foobar matches /foo); %s matches whole path segments only: write pathType Prefix to say that is meant", path, c.term(prefix, trimSlash(path)))
	case ctrlIstio:
		// Istio's own Ingress translation (createFallbackStringMatch):
		// "", *, /*, .* match everything; a final /* or .* is cut off and
		// the rest is a prefix match, which istiod matches on whole path
		// segments for Ingresses (route semantics "ingress"); any other
		// path is an exact match.
		if path == "*" || path == "/*" || path == ".*" {
			return prefix, "/", Carried, fmt.Sprintf("Istio reads %s as every path: %s", path, c.term(prefix, "/"))
		}
		if base, ok := strings.CutSuffix(path, "/*"); ok {
			if c.istio() {
				return prefix, trimSlash(base), Carried, fmt.Sprintf("Istio reads %s as the prefix %s and matches it on whole path segments (%s itself too): %s", path, base, base, c.term(prefix, trimSlash(base)))
			}
			return prefix, trimSlash(base), Approximated, fmt.Sprintf("Istio reads %s as the string prefix %s/; PathPrefix %s matches whole path segments and %s itself", path, base, trimSlash(base), trimSlash(base))
		}
		if base, ok := strings.CutSuffix(path, ".*"); ok {
			if c.istio() {
				return prefix, trimSlash(base), Carried, fmt.Sprintf("Istio reads %s as the prefix %s and matches it on whole path segments: %s", path, base, c.term(prefix, trimSlash(base)))
			}
			return prefix, trimSlash(base), Approximated, fmt.Sprintf("Istio reads %s as the string prefix %s; PathPrefix %s matches whole path segments only", path, base, trimSlash(base))
		}
		return exact, path, Carried, fmt.Sprintf("Istio matches %s exactly: %s", path, c.say("Exact", "uri exact "+path))
	}
	return prefix, trimSlash(path), Approximated, fmt.Sprintf("ImplementationSpecific means what the Ingress controller says (class %q); read as Prefix: %s. Write pathType Prefix or Exact to say which is meant", ing.class, c.term(prefix, trimSlash(path)))
}

// term names a path match in the target's words: "PathPrefix /foo", or for
// Istio the uri matches that say the same.
func (c *converter) term(t gatewayv1.PathMatchType, value string) string {
	if !c.istio() {
		return string(t) + " " + value
	}
	switch t {
	case gatewayv1.PathMatchPathPrefix:
		if value == "/" {
			return "uri prefix /"
		}
		return fmt.Sprintf("uri exact %s or prefix %s/", value, value)
	case gatewayv1.PathMatchExact:
		return "uri exact " + value
	}
	return "uri regex " + value
}

// nginxRegex is an nginx location regex (~* "^PATH") as an RE2 expression
// matched against the whole path.
func nginxRegex(path string) string {
	re := "(?i)" + strings.TrimPrefix(path, "^")
	if strings.HasSuffix(re, ".*") || strings.HasSuffix(re, "$") {
		return re
	}
	return re + ".*"
}

// trimSlash drops a trailing slash: Prefix /foo/ matches what /foo matches.
func trimSlash(p string) string {
	if len(p) > 1 {
		return strings.TrimRight(p, "/")
	}
	return p
}

// pathChars are the characters the CRD allows in Exact and PathPrefix values.
var pathChars = regexp.MustCompile(`^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`)

// validPath applies the Gateway API CRD's rules for Exact and PathPrefix
// values.
func validPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("it must start with /")
	case len(p) > 1024:
		return fmt.Errorf("it is longer than 1024 characters")
	case strings.Contains(p, "//"):
		return fmt.Errorf("it must not contain //")
	case strings.Contains(p, "/./") || strings.HasSuffix(p, "/."):
		return fmt.Errorf("it must not contain /./ or end with /.")
	case strings.Contains(p, "/../") || strings.HasSuffix(p, "/.."):
		return fmt.Errorf("it must not contain /../ or end with /..")
	case strings.Contains(strings.ToLower(p), "%2f"):
		return fmt.Errorf("it must not contain %%2f or %%2F")
	case strings.Contains(p, "#"):
		return fmt.Errorf("it must not contain #")
	}
	if !pathChars.MatchString(p) {
		return fmt.Errorf("it may hold only letters, digits, -/._~!$&'()*+,;=:@ and %%XX escapes")
	}
	return nil
}
