package convert

import (
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// backendRef maps an Ingress backend to a backendRef; it returns nil (and
// reports why) when the backend cannot be written, and the rule then has no
// backend: Gateway API answers such requests with 500.
func (c *converter) backendRef(ing *ingress, where string, b networkingv1.IngressBackend) []gatewayv1.HTTPBackendRef {
	r := &c.res.Report
	if b.Resource != nil {
		r.add(ing, where+".resource", NotCarried, "a %s backend (%s) has no %s equivalent: route to a Service, or serve it some other way; %s", b.Resource.Kind, b.Resource.Name, c.apiName(), c.noBackend())
		return nil
	}
	if b.Service == nil || b.Service.Name == "" {
		r.add(ing, where, NotCarried, "the backend names no Service: name one, then convert again; %s", c.noBackend())
		return nil
	}
	svc := b.Service
	port := svc.Port.Number
	if svc.Port.Name != "" && port == 0 {
		s := c.services[[2]string{ing.ns, svc.Name}]
		if s == nil {
			r.add(ing, where+".service.port.name", NotCarried, "the backend names port %q of Service %s, and %s the port number: pass the Service's manifest with -f too (or write %s.service.port.number), then convert again; %s", svc.Port.Name, svc.Name, c.say("backendRefs need", "the route's destination needs"), where, c.noBackend())
			return nil
		}
		for _, p := range s.Spec.Ports {
			if p.Name == svc.Port.Name {
				port = p.Port
			}
		}
		if port == 0 {
			r.add(ing, where+".service.port.name", NotCarried, "Service %s has no port named %q: fix the Ingress or the Service, then convert again; %s", svc.Name, svc.Port.Name, c.noBackend())
			return nil
		}
		r.add(ing, where+".service.port.name", Carried, "port %q of Service %s is %d", svc.Port.Name, svc.Name, port)
	}
	if port < 1 || port > 65535 {
		r.add(ing, where+".service.port", NotCarried, "Service %s has no valid port (%s): set service.port.number, then convert again; %s", svc.Name, portText(svc.Port), c.noBackend())
		return nil
	}
	return []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{
		Name: gatewayv1.ObjectName(svc.Name), Port: ptr.To(gatewayv1.PortNumber(port)),
	}}}}
}

func portText(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return fmt.Sprintf("name %q", p.Name)
	}
	return fmt.Sprintf("number %d", p.Number)
}

// noBackend says what becomes of a rule whose backend cannot be written.
func (c *converter) noBackend() string {
	return c.say("the rule is written without a backend (requests get 500)", "the route is written with a directResponse 500 instead of a destination")
}
