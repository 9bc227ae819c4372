package convert

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// Names the output uses.
const (
	// DefaultGatewayName names the Gateway when Options.GatewayName is empty.
	DefaultGatewayName = "gateway"
	// GatewayClassName is the class of every Gateway: Istio's.
	GatewayClassName = "istio"
	// ConvertedFromAnnotation names, on every output object, the Ingresses it
	// replaces: "ingress/NAME" (or "ingress/NAMESPACE/NAME" for an Ingress in
	// another namespace than the object), comma-separated.
	ConvertedFromAnnotation = "meshguard.dev/converted-from"
	// DefaultNamespace holds Ingresses whose manifest names no namespace, as
	// kubectl apply would create them.
	DefaultNamespace = "default"
)

// Options shape the conversion.
type Options struct {
	// GatewayName names the Gateway; empty means DefaultGatewayName.
	GatewayName string
	// GatewayNamespace, when set, puts one Gateway there for every Ingress;
	// otherwise each namespace holding Ingresses gets its own Gateway.
	GatewayNamespace string
	// StaticIPs maps the name of a reserved static IP (the value of
	// kubernetes.io/ingress.global-static-ip-name) to its address, which then
	// goes into the Gateway's spec.addresses.
	StaticIPs map[string]string
	// To is the target API; empty means TargetGatewayAPI.
	To Target
}

// Target names the API the Ingresses are converted to.
type Target string

// Targets.
const (
	// TargetGatewayAPI: a Gateway API Gateway, HTTPRoutes, ReferenceGrants.
	TargetGatewayAPI Target = "gateway-api"
	// TargetIstio: an Istio networking.istio.io/v1 Gateway and
	// VirtualServices.
	TargetIstio Target = "istio"
)

// Targets lists the targets, the default first.
func Targets() []Target { return []Target{TargetGatewayAPI, TargetIstio} }

// ParseTarget reads a --to value; empty is TargetGatewayAPI.
func ParseTarget(s string) (Target, error) {
	switch t := Target(s); t {
	case "", TargetGatewayAPI:
		return TargetGatewayAPI, nil
	case TargetIstio:
		return t, nil
	}
	return "", fmt.Errorf("unknown target %q: use %s or %s", s, TargetGatewayAPI, TargetIstio)
}

// Result holds the replacement objects and the report. Objects lists them
// in output order. Of the object lists, only the target's are filled.
type Result struct {
	// Target is the API of the objects.
	Target Target

	Gateways        []*gatewayv1.Gateway
	HTTPRoutes      []*gatewayv1.HTTPRoute
	ReferenceGrants []*gatewayv1beta1.ReferenceGrant

	IstioGateways   []*IstioGateway
	VirtualServices []*VirtualService

	Report Report

	order []metav1.Object
}

// Objects returns every replacement object in a stable order: per Gateway,
// its ReferenceGrants, the Gateway, then the HTTPRoutes attached to it; for
// TargetIstio per Gateway the Istio Gateway, then its VirtualServices.
func (r *Result) Objects() []metav1.Object { return r.order }

// Convert turns the Ingresses of in into the objects of o.To (Gateway API
// by default). The result depends only on in and o, never on map order or
// the clock. It panics on a target ParseTarget refuses.
func Convert(in *Input, o Options) *Result {
	target, err := ParseTarget(string(o.To))
	if err != nil {
		panic("convert: " + err.Error())
	}
	o.To = target
	c := &converter{opts: o, res: &Result{Target: target}, services: map[[2]string]*corev1.Service{}}
	if c.opts.GatewayName == "" {
		c.opts.GatewayName = DefaultGatewayName
	}
	for _, s := range in.Services {
		c.services[[2]string{nsOf(s.Namespace), s.Name}] = s
	}
	ings := make([]*ingress, 0, len(in.Ingresses))
	for _, i := range in.Ingresses {
		ings = append(ings, newIngress(i, in))
	}
	slices.SortStableFunc(ings, func(a, b *ingress) int {
		return cmp.Or(cmp.Compare(a.ns, b.ns), cmp.Compare(a.Name, b.Name))
	})
	for _, ing := range ings {
		c.annotations(ing)
	}
	// Group by Gateway, keeping the sorted order.
	var gws []*gateway
	byKey := map[string]*gateway{}
	for _, ing := range ings {
		ns := cmp.Or(c.opts.GatewayNamespace, ing.ns)
		g := byKey[ns]
		if g == nil {
			g = &gateway{name: c.opts.GatewayName, ns: ns}
			byKey[ns] = g
			gws = append(gws, g)
		}
		g.ingresses = append(g.ingresses, ing)
	}
	for _, g := range gws {
		if c.istio() {
			c.buildIstio(g)
		} else {
			c.build(g)
		}
	}
	// The report lists each Ingress's entries together, in Ingress order.
	pos := make(map[string]int, len(ings))
	for i, ing := range ings {
		pos[ing.key()] = i
	}
	slices.SortStableFunc(c.res.Report.Entries, func(a, b Entry) int {
		return cmp.Compare(pos[a.Ingress], pos[b.Ingress])
	})
	return c.res
}

type converter struct {
	opts Options
	// credentials maps each credentialName of the Istio target to the
	// namespace of its Secret, to find names that collide in istio-system.
	credentials map[string]string
	res         *Result
	services    map[[2]string]*corev1.Service
	// routeNames keeps route names unique per namespace.
	routeNames map[string]namer
}

// istio reports whether the target is Istio's API.
func (c *converter) istio() bool { return c.opts.To == TargetIstio }

// say picks the message of the target: gw for Gateway API, istio for Istio.
func (c *converter) say(gw, istio string) string {
	if c.istio() {
		return istio
	}
	return gw
}

// nsOf is the namespace an object lands in.
func nsOf(ns string) string { return cmp.Or(ns, DefaultNamespace) }

// fromList renders the converted-from annotation for an object in ns.
func fromList(ns string, ings []*ingress) string {
	var names []string
	for _, i := range ings {
		n := "ingress/" + i.Name
		if i.ns != ns {
			n = "ingress/" + i.ns + "/" + i.Name
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func meta(name, ns string, from []*ingress) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{ConvertedFromAnnotation: fromList(ns, from)}}
}

// ingress is an Ingress with what the conversion learnt about it.
type ingress struct {
	*networkingv1.Ingress
	ns string
	// class is the effective class and classFrom where it was read.
	class, classFrom string
	// controller is gce, nginx, istio or "" (unknown).
	controller string
	retired    string
	allowHTTP  bool
	// sslRedirect is nginx's ssl-redirect (default true: redirect the hosts
	// with TLS); forceRedirect redirects every host.
	sslRedirect, forceRedirect bool
	useRegex                   bool
	// rewrite is a plain rewrite-target, "" when none or not carried.
	rewrite string
}

func (i *ingress) key() string { return i.ns + "/" + i.Name }

// Controllers the conversion tells apart.
const (
	ctrlGCE   = "gce"
	ctrlNginx = "nginx"
	ctrlIstio = "istio"
)

// Annotations the conversion reads.
const (
	annClass          = "kubernetes.io/ingress.class"
	annAllowHTTP      = "kubernetes.io/ingress.allow-http"
	annGlobalIP       = "kubernetes.io/ingress.global-static-ip-name"
	annRegionalIP     = "kubernetes.io/ingress.regional-static-ip-name"
	annPreSharedCert  = "ingress.gcp.kubernetes.io/pre-shared-cert"
	annSSLRedirect    = "nginx.ingress.kubernetes.io/ssl-redirect"
	annForceRedirect  = "nginx.ingress.kubernetes.io/force-ssl-redirect"
	annRewriteTarget  = "nginx.ingress.kubernetes.io/rewrite-target"
	annUseRegex       = "nginx.ingress.kubernetes.io/use-regex"
	annBackendProto   = "nginx.ingress.kubernetes.io/backend-protocol"
	annDefaultClass   = "ingressclass.kubernetes.io/is-default-class"
	nginxControllerID = "k8s.io/ingress-nginx"
	istioControllerID = "istio.io/ingress-controller"
)

func newIngress(i *networkingv1.Ingress, in *Input) *ingress {
	ing := &ingress{Ingress: i, ns: nsOf(i.Namespace), retired: in.Retired[i], allowHTTP: true, sslRedirect: true}
	switch {
	case i.Annotations[annClass] != "":
		ing.class, ing.classFrom = i.Annotations[annClass], "annotation "+annClass
	case i.Spec.IngressClassName != nil && *i.Spec.IngressClassName != "":
		ing.class, ing.classFrom = *i.Spec.IngressClassName, "spec.ingressClassName"
	default:
		for _, ic := range in.IngressClasses {
			if ic.Annotations[annDefaultClass] == "true" {
				ing.class, ing.classFrom = ic.Name, "the default IngressClass"
			}
		}
	}
	ing.controller = controllerOf(ing.class, in.IngressClasses)
	if ing.controller == "" && ing.class == "" {
		for k := range i.Annotations {
			if strings.HasPrefix(k, "nginx.ingress.kubernetes.io/") {
				ing.controller = ctrlNginx
			}
		}
	}
	return ing
}

// controllerOf names the controller behind a class: the IngressClass's
// controller when the input holds it, else the class name's usual meaning.
func controllerOf(class string, classes []*networkingv1.IngressClass) string {
	if class == "" {
		return ""
	}
	for _, ic := range classes {
		if ic.Name != class {
			continue
		}
		switch c := ic.Spec.Controller; {
		case c == nginxControllerID:
			return ctrlNginx
		case c == istioControllerID:
			return ctrlIstio
		case strings.Contains(c, "gce") || strings.Contains(c, "ingress-gce"):
			return ctrlGCE
		}
	}
	switch {
	case class == "gce" || class == "gce-internal":
		return ctrlGCE
	case class == "istio":
		return ctrlIstio
	case strings.Contains(class, "nginx"):
		return ctrlNginx
	}
	return ""
}
