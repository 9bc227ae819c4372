package check

import (
	"encoding/json"
	"fmt"
)

// RetiredAPIRule is the finding on an object written in an API version the
// API server no longer serves.
const RetiredAPIRule = "retired-api"

// retiredIngress are the Ingress API versions Kubernetes 1.22 removed; old
// manifests and charts still hold them.
var retiredIngress = map[string]bool{"extensions/v1beta1": true, "networking.k8s.io/v1beta1": true}

// retired reports an Ingress in a removed API version (a denial: the API
// server refuses it) and returns it converted to networking.k8s.io/v1, so
// the rules judge what the manifest means once it is rewritten; ok is false
// for every other object.
func retired(o *Object) (converted []byte, ok bool, err error) {
	if o.Kind != "Ingress" || !retiredIngress[o.APIVersion] {
		return nil, false, nil
	}
	o.add(RetiredAPIRule, Deny, fmt.Sprintf(
		"Ingress %q uses %s, which Kubernetes removed in 1.22: the API server refuses it; write it as networking.k8s.io/v1 (spec.backend → spec.defaultBackend, serviceName/servicePort → service.name/service.port.number or .name, and a pathType on every path: ImplementationSpecific keeps the old meaning)",
		o.Name, o.APIVersion))
	converted, err = IngressV1(o.raw)
	if err != nil {
		return nil, true, fmt.Errorf("Ingress %q: %w", o.Name, err)
	}
	return converted, true, nil
}

// RetiredIngress reports an Ingress API version Kubernetes 1.22 removed.
func RetiredIngress(apiVersion string) bool { return retiredIngress[apiVersion] }

// IngressV1 rewrites an extensions/v1beta1 or networking.k8s.io/v1beta1
// Ingress (JSON) as networking.k8s.io/v1: spec.backend becomes
// spec.defaultBackend, serviceName/servicePort become service.name and
// service.port.number or .name, and a path without pathType gets
// ImplementationSpecific, the old meaning.
func IngressV1(raw []byte) ([]byte, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	obj["apiVersion"] = "networking.k8s.io/v1"
	if spec, _ := obj["spec"].(map[string]any); spec != nil {
		if b, ok := spec["backend"]; ok {
			spec["defaultBackend"] = v1Backend(b)
			delete(spec, "backend")
		}
		rules, _ := spec["rules"].([]any)
		for _, r := range rules {
			http, _ := mapAt(r, "http")
			paths, _ := http["paths"].([]any)
			for _, p := range paths {
				path, _ := p.(map[string]any)
				if path == nil {
					continue
				}
				if _, ok := path["pathType"]; !ok {
					path["pathType"] = "ImplementationSpecific"
				}
				if b, ok := path["backend"]; ok {
					path["backend"] = v1Backend(b)
				}
			}
		}
	}
	return json.Marshal(obj)
}

// v1Backend rewrites a v1beta1 backend (serviceName, servicePort) as a v1
// one (service.name, service.port.number or .name); a resource backend is
// the same in both.
func v1Backend(b any) any {
	m, _ := b.(map[string]any)
	if m == nil || m["serviceName"] == nil {
		return b
	}
	port := map[string]any{}
	switch p := m["servicePort"].(type) {
	case string:
		port["name"] = p
	case float64:
		port["number"] = p
	}
	return map[string]any{"service": map[string]any{"name": m["serviceName"], "port": port}}
}

func mapAt(v any, key string) (map[string]any, bool) {
	m, _ := v.(map[string]any)
	if m == nil {
		return nil, false
	}
	out, ok := m[key].(map[string]any)
	return out, ok
}
