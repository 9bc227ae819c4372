package convert

import (
	"bytes"
	"testing"
)

// FuzzConvert reads bytes as manifests, converts whatever Ingresses they
// hold to every target, per namespace and onto a shared Gateway, and writes
// the result: nothing may panic, and what is emitted must keep the CRDs'
// rules (Gateway API) or istiod's (Istio).
func FuzzConvert(f *testing.F) {
	f.Add([]byte(storyIngress))
	f.Add([]byte(ing("web", "nginx.ingress.kubernetes.io/use-regex: \"true\", nginx.ingress.kubernetes.io/rewrite-target: /x", "  ingressClassName: nginx\n  defaultBackend: {service: {name: d, port: {name: http}}}\n  tls: [{secretName: s}]\n"+oneRule)))
	f.Add([]byte("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: a}\nspec: {backend: {serviceName: s, servicePort: 80}, rules: [{host: '*.a.b', http: {paths: [{path: /x/*, backend: {serviceName: s, servicePort: x}}]}}]}\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"a"},"spec":{"rules":[{"http":{"paths":[{"path":"/","pathType":"Exact","backend":{"service":{"name":"s","port":{"number":1}}}}]}}]}}]}`))
	// A typed list with an empty item (it made pkg/check's reader panic).
	f.Add([]byte("apiVersion: networking.k8s.io/v1\nkind: IngressList\nitems:\n-\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &Input{}
		if in.Read("fuzz.yaml", data) != nil {
			return
		}
		for _, to := range Targets() {
			for _, o := range []Options{{}, {GatewayNamespace: "infra", StaticIPs: map[string]string{"ip": "192.0.2.1"}}} {
				o.To = to
				res := Convert(in, o)
				if res.Target != to {
					t.Fatalf("converted to %q, asked for %q", res.Target, to)
				}
				var b bytes.Buffer
				if err := res.WriteYAML(&b); err != nil {
					t.Fatal(err)
				}
				if err := res.Report.Write(&b, FormatJSON); err != nil {
					t.Fatal(err)
				}
				for _, err := range validationErrors(res) {
					t.Errorf("invalid %s output: %v", to, err)
				}
			}
		}
	})
}
