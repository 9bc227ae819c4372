package istio

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/meshguard/meshguard/pkg/convert"
)

// knownDifference is a way meshguard --to istio routes a request otherwise
// than Istio's own Ingress translation, on purpose.
type knownDifference struct {
	name, reason string
	// applies reports whether the difference explains a probe: got is
	// meshguard's outcome, want Istio's translation's.
	applies func(ing *networkingv1.Ingress, p probe, got, want string) bool
	// reported reports whether meshguard's report says so.
	reported func(res *convert.Result, ing *networkingv1.Ingress) bool
}

// knownDifferences: where meshguard keeps the Ingress's meaning (or says
// it cannot) and Istio's own translation does not. Istio's translation
// serves every host over plain HTTP (its port 80 server holds "*"),
// ignores spec.defaultBackend, reads every ImplementationSpecific path its
// own way whatever controller the Ingress was written for, and drops the
// paths whose backend it cannot resolve.
var knownDifferences = []*knownDifference{
	{
		name:   "plain HTTP off",
		reason: "kubernetes.io/ingress.allow-http: \"false\" leaves the host out of the port 80 server; Istio's translation serves it",
		applies: func(ing *networkingv1.Ingress, p probe, got, want string) bool {
			return p.scheme == "http" && got == notFound && ing.Annotations["kubernetes.io/ingress.allow-http"] == "false"
		},
		reported: func(res *convert.Result, ing *networkingv1.Ingress) bool {
			return entry(res, ing, "kubernetes.io/ingress.allow-http", "left out of the Istio Gateway's port 80 server")
		},
	},
	{
		name:   "redirect to HTTPS",
		reason: "ingress-nginx's ssl-redirect (default for hosts with TLS) and force-ssl-redirect become the port 80 server's tls.httpsRedirect; Istio's translation serves plain HTTP",
		applies: func(ing *networkingv1.Ingress, p probe, got, want string) bool {
			return p.scheme == "http" && got == redirected
		},
		reported: func(res *convert.Result, ing *networkingv1.Ingress) bool {
			return entry(res, ing, "ssl-redirect", "httpsRedirect")
		},
	},
	{
		name:   "defaultBackend",
		reason: "meshguard writes spec.defaultBackend as a catch-all route; Istio's translation ignores it (404)",
		applies: func(ing *networkingv1.Ingress, p probe, got, want string) bool {
			b := ing.Spec.DefaultBackend
			return want == notFound && b != nil && b.Service != nil && strings.HasPrefix(got, b.Service.Name+"."+ing.Namespace+".svc.")
		},
		reported: func(res *convert.Result, ing *networkingv1.Ingress) bool {
			return entry(res, ing, "spec.defaultBackend", "Istio's own Ingress translation ignores spec.defaultBackend")
		},
	},
	{
		name:   "unresolvable backend",
		reason: "a backend whose port cannot be resolved becomes a directResponse 500, as the Ingress's rule still claims the path; Istio's translation drops the path, so its requests fall through to other paths or 404",
		applies: func(ing *networkingv1.Ingress, p probe, got, want string) bool {
			return got == noBackend
		},
		reported: func(res *convert.Result, ing *networkingv1.Ingress) bool {
			return entry(res, ing, ".backend", "directResponse 500")
		},
	},
	{
		name:   "ImplementationSpecific read as the Ingress's controller reads it",
		reason: "meshguard reads an ImplementationSpecific path as the Ingress's controller (GCE, ingress-nginx, …) does; Istio's translation reads it its own way (/* and .* prefixes, otherwise exact)",
		applies: func(ing *networkingv1.Ingress, p probe, got, want string) bool {
			for _, r := range ing.Spec.Rules {
				if r.HTTP == nil {
					continue
				}
				for _, path := range r.HTTP.Paths {
					if path.PathType != nil && *path.PathType != networkingv1.PathTypeImplementationSpecific {
						continue
					}
					base := strings.TrimRight(strings.TrimSuffix(strings.TrimSuffix(path.Path, "*"), "."), "/")
					if strings.HasPrefix(p.path, base) {
						return true
					}
				}
			}
			return false
		},
		reported: func(res *convert.Result, ing *networkingv1.Ingress) bool {
			return entry(res, ing, ".pathType", "")
		},
	},
}

// classify finds the known difference that explains a probe.
func classify(ing *networkingv1.Ingress, res *convert.Result, p probe, got, want string) *knownDifference {
	for _, d := range knownDifferences {
		if d.applies(ing, p, got, want) {
			return d
		}
	}
	return nil
}

// entry reports whether the report has an entry for ing whose what and
// message contain the given strings.
func entry(res *convert.Result, ing *networkingv1.Ingress, what, message string) bool {
	for _, e := range res.Report.Entries {
		if e.Ingress == ing.Namespace+"/"+ing.Name && strings.Contains(e.What, what) && strings.Contains(e.Message, message) {
			return true
		}
	}
	return false
}
