package convert

import (
	"regexp"
	"slices"
	"strings"
)

// annotations reads the annotations of one Ingress into its settings and
// reports each annotation of a known controller, in name order. Annotations
// of no Ingress controller (kubectl's last-applied-configuration, Helm's,
// meshguard's own) are left out of the report.
func (c *converter) annotations(ing *ingress) {
	r := &c.res.Report
	if ing.retired != "" {
		r.add(ing, "apiVersion", Carried, "read %s as networking.k8s.io/v1 (spec.backend → spec.defaultBackend, serviceName/servicePort → service.name/port, a missing pathType → ImplementationSpecific); Kubernetes no longer serves %s", ing.retired, ing.retired)
	}
	if ing.Spec.IngressClassName != nil && *ing.Spec.IngressClassName != "" {
		r.add(ing, "spec.ingressClassName", Carried, c.classMessage(), c.classValue(), *ing.Spec.IngressClassName)
	}
	keys := make([]string, 0, len(ing.Annotations))
	for k := range ing.Annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.annotation(ing, k, ing.Annotations[k])
	}
}

// captureGroup finds the references to regex captures nginx substitutes in
// a rewrite-target: $1, ${1}, \1.
var captureGroup = regexp.MustCompile(`\$\{?[0-9]|\\[0-9]`)

func (c *converter) annotation(ing *ingress, k, v string) {
	r := &c.res.Report
	switch k {
	case annClass:
		r.add(ing, k, Carried, c.classMessage(), c.classValue(), v)
	case annAllowHTTP:
		if v == "false" {
			ing.allowHTTP = false
			r.add(ing, k, Carried, "%s", c.say("plain HTTP is not served for this Ingress's rules: they attach to the Gateway's HTTPS listeners only",
				"plain HTTP is not served for this Ingress's hosts: they are left out of the Istio Gateway's port 80 server, and its HTTPS servers serve them"))
		} else {
			r.add(ing, k, Carried, "%s", c.say("plain HTTP is served: the rules attach to the Gateway's HTTP listener (port 80) too",
				"plain HTTP is served: the Istio Gateway's port 80 server holds this Ingress's hosts too"))
		}
	case annGlobalIP, annRegionalIP:
		if c.istio() {
			ip := c.opts.StaticIPs[v]
			if ip == "" {
				ip = "IP"
			}
			r.add(ing, k, NotCarried, "an Istio Gateway has no address: the istio-ingressgateway Service in %s holds it; reserve a regional static IP (gcloud compute addresses create %s --region REGION) and set it as that Service's spec.loadBalancerIP (%s), which moves every host of that gateway to it", IstioGatewayNamespace, v, ip)
			break
		}
		if ip, ok := c.opts.StaticIPs[v]; ok {
			r.add(ing, k, Carried, "the Gateway's spec.addresses holds %s (--static-ip %s=%s)", ip, v, ip)
			break
		}
		what := "a global static IP cannot be attached to the Istio gateway's LoadBalancer Service"
		if k == annRegionalIP {
			what = "the Istio gateway's LoadBalancer Service does not read this annotation"
		}
		r.add(ing, k, NotCarried, "%s: reserve a regional static IP (gcloud compute addresses create %s --region REGION), put it in the Gateway's spec.addresses (type IPAddress), or convert again with --static-ip %s=IP", what, v, v)
	case annPreSharedCert:
		r.add(ing, k, NotCarried, c.say("the certificate %q lives in Google Cloud, not in the cluster: store it in a kubernetes.io/tls Secret (or issue it with a cert-manager Certificate) and add that Secret to the certificateRefs of the Gateway's HTTPS listener",
			"the certificate %q lives in Google Cloud, not in the cluster: store it in a kubernetes.io/tls Secret in "+IstioGatewayNamespace+" (or issue it there with a cert-manager Certificate) and name that Secret in the credentialName of an HTTPS server of the Istio Gateway"), v)
	case annSSLRedirect:
		if v == "false" {
			ing.sslRedirect = false
			r.add(ing, k, Carried, "HTTP requests are served, not redirected to HTTPS")
		} else {
			c.redirectEntry(ing, k, "HTTP requests for hosts with TLS get a RequestRedirect to https (308, nginx's code) on the Gateway's HTTP listener; the routes attach to the HTTPS listeners", "hosts with TLS")
		}
	case annForceRedirect:
		if v == "true" {
			ing.forceRedirect = true
			c.redirectEntry(ing, k, "HTTP requests for every host get a RequestRedirect to https (308, nginx's code) on the Gateway's HTTP listener; the routes attach to the HTTPS listeners", "every host")
		} else {
			r.add(ing, k, Carried, "no forced redirect (the default)")
		}
	case annUseRegex:
		if v == "true" {
			ing.useRegex = true
			r.add(ing, k, Approximated, "%s", c.say("ImplementationSpecific paths become RegularExpression matches, made case-insensitive and anchored at the path's start as nginx reads them; Gateway API leaves the precedence of regular expressions over other paths to the implementation, so check the routes that overlap",
				"ImplementationSpecific paths become uri regex matches, made case-insensitive and anchored at the path's start as nginx reads them; the VirtualService's routes are ordered longest path first, as ingress-nginx orders its locations, and the first matching route wins, so check the routes that overlap"))
		} else {
			r.add(ing, k, Carried, "paths are not regular expressions (the default)")
		}
	case annRewriteTarget:
		if captureGroup.MatchString(v) {
			r.add(ing, k, NotCarried, c.say("rewrite-target %q uses regex capture groups, which Gateway API's URLRewrite cannot express: rewrite the paths in the application, or use an Istio VirtualService with a regex rewrite (uriRegexRewrite)",
				"rewrite-target %q uses regex capture groups, which meshguard does not translate: write the routes' rewrite.uriRegexRewrite by hand (match: the path's expression, rewrite: the target with \\1 for $1), or rewrite the paths in the application"), v)
			break
		}
		ing.rewrite = v
		r.add(ing, k, Carried, c.say("URLRewrite ReplaceFullPath %q on this Ingress's paths: without capture groups nginx replaces the whole path with the target too",
			"the whole path becomes %q on this Ingress's routes (rewrite.uri on exact matches, rewrite.uriRegexRewrite of ^.*$ on the others, as rewrite.uri would replace only the matched prefix): without capture groups nginx replaces the whole path with the target too"), v)
	case annBackendProto:
		switch strings.ToUpper(v) {
		case "HTTP", "":
			r.add(ing, k, Carried, "%s", c.say("backends speak HTTP, as Gateway API assumes", "backends speak HTTP, as the VirtualService's routes assume"))
		case "HTTPS":
			r.add(ing, k, NotCarried, "%s", c.say("backends speak HTTPS: in the mesh, sidecars carry mTLS and the backend can serve plain HTTP; otherwise add a BackendTLSPolicy for each backend Service",
				"backends speak HTTPS: in the mesh, sidecars carry mTLS and the backend can serve plain HTTP; otherwise add a DestinationRule with trafficPolicy.tls.mode SIMPLE for each backend Service"))
		case "GRPC", "GRPCS":
			r.add(ing, k, NotCarried, c.say("backends speak %s: write the routes as GRPCRoutes (and for GRPCS a BackendTLSPolicy), or name the Service port grpc-… (appProtocol grpc) so Istio speaks HTTP/2 to it",
				"backends speak %s: name the Service port grpc-… (appProtocol grpc) so Istio speaks HTTP/2 to it (and for GRPCS add a DestinationRule with trafficPolicy.tls.mode SIMPLE)"), v)
		default:
			r.add(ing, k, NotCarried, "backend protocol %s has no %s equivalent: expose the backend over HTTP", v, c.apiName())
		}
	default:
		switch {
		case strings.HasPrefix(k, "meshguard.dev/"):
		case strings.HasPrefix(k, "cert-manager.io/") || strings.HasSuffix(domainOf(k), ".cert-manager.io"):
			r.add(ing, k, NotCarried, "%s", c.say("cert-manager's Gateway API support reads this annotation on the Gateway: move it to the Gateway's metadata.annotations (cert-manager then fills the certificateRefs Secrets of the HTTPS listeners; it needs its Gateway API support enabled)",
				"cert-manager reads this annotation on Ingresses and Gateway API Gateways, never on an Istio Gateway: write a cert-manager Certificate in "+IstioGatewayNamespace+" whose secretName is the credentialName of the Istio Gateway's HTTPS server"))
		case k == "kubernetes.io/tls-acme":
			r.add(ing, k, NotCarried, "%s", c.say("kube-lego/cert-manager's ingress-shim reads it on Ingresses only: annotate the Gateway with cert-manager.io/issuer or cert-manager.io/cluster-issuer instead",
				"kube-lego/cert-manager's ingress-shim reads it on Ingresses only: write a cert-manager Certificate in "+IstioGatewayNamespace+" whose secretName is the credentialName of the Istio Gateway's HTTPS server"))
		case controllerAnnotation(k):
			r.add(ing, k, NotCarried, c.say("no Gateway API equivalent is generated for this %s annotation: configure the same behaviour on the Gateway, the HTTPRoute or with an Istio policy, or drop it if it is no longer needed",
				"no Istio equivalent is generated for this %s annotation: configure the same behaviour on the Istio Gateway, the VirtualService or with an Istio policy, or drop it if it is no longer needed"), controllerName(k))
		}
	}
}

func domainOf(k string) string {
	d, _, ok := strings.Cut(k, "/")
	if !ok {
		return ""
	}
	return d
}

// controllerDomains are annotation prefixes of Ingress controllers and
// clouds, beyond the *.ingress.kubernetes.io family.
var controllerDomains = map[string]string{
	"ingress.kubernetes.io":            "Ingress controller",
	"ingress.gcp.kubernetes.io":        "GKE Ingress",
	"networking.gke.io":                "GKE",
	"cloud.google.com":                 "Google Cloud",
	"konghq.com":                       "Kong",
	"projectcontour.io":                "Contour",
	"contour.heptio.com":               "Contour",
	"getambassador.io":                 "Emissary",
	"nginx.org":                        "NGINX Ingress Controller",
	"nginx.com":                        "NGINX Ingress Controller",
	"zalando.org":                      "Skipper",
	"ingress.citrix.com":               "Citrix",
	"external-dns.alpha.kubernetes.io": "external-dns",
}

// controllerAnnotation reports an annotation read by an Ingress controller
// or a cloud, which must not be dropped silently.
func controllerAnnotation(k string) bool {
	d := domainOf(k)
	switch {
	case d == "":
		return false
	case controllerDomains[d] != "", strings.HasSuffix(d, ".ingress.kubernetes.io"):
		return true
	case strings.HasPrefix(d, "haproxy"), strings.HasPrefix(k, "kubernetes.io/ingress."):
		return true
	}
	return false
}

// controllerName says whose annotation k is, for messages.
func controllerName(k string) string {
	d := domainOf(k)
	if n := controllerDomains[d]; n != "" {
		return n
	}
	switch {
	case strings.HasPrefix(d, "haproxy"):
		return "HAProxy"
	case strings.HasPrefix(k, "kubernetes.io/ingress."):
		return "Ingress"
	}
	name, _, _ := strings.Cut(d, ".")
	return name + " Ingress controller"
}

// classMessage and classValue report the class an Ingress names.
func (c *converter) classMessage() string {
	return c.say("replaced by the Gateway's gatewayClassName %s (was %s)", "replaced by the Istio Gateway's selector %s (was %s)")
}

func (c *converter) classValue() string {
	return c.say(GatewayClassName, "istio: "+IstioSelector)
}

// apiName names the target's API in messages.
func (c *converter) apiName() string { return c.say("Gateway API", "Istio") }

// redirectEntry reports an HTTPS redirect: Gateway API keeps nginx's 308,
// Istio's httpsRedirect answers 301.
func (c *converter) redirectEntry(ing *ingress, k, gw, which string) {
	if !c.istio() {
		c.res.Report.add(ing, k, Carried, "%s", gw)
		return
	}
	c.res.Report.add(ing, k, Approximated, "HTTP requests for %s are redirected to https by the Istio Gateway's port 80 server (tls.httpsRedirect), with 301 where nginx answers 308: a client may turn a redirected POST into a GET; the routes are served on the HTTPS servers", which)
}
