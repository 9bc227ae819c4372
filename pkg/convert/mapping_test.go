package convert

import (
	"strings"
	"testing"
)

// ing writes an Ingress in namespace shop with annotations and a spec.
func ing(name, annotations, spec string) string {
	return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name + "\n  namespace: shop\n  annotations: {" + annotations + "}\nspec:\n" + spec + "\n---\n"
}

const oneRule = `  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}`

// TestMapping has a case per row of docs/convert.md's mapping table: what
// the output must hold (and must not), and what the report says.
func TestMapping(t *testing.T) {
	tests := []struct {
		name      string
		manifests string
		opts      Options
		want      []string
		notWant   []string
		report    map[string]Outcome
	}{
		{"one Gateway per namespace, class istio, default name", ing("web", "", oneRule), Options{},
			[]string{"kind: Gateway\nmetadata:\n  annotations:\n    meshguard.dev/converted-from: ingress/web\n  name: gateway\n  namespace: shop", "gatewayClassName: istio", "name: http\n    port: 80\n    protocol: HTTP"},
			[]string{"sectionName", "allowedRoutes", "ReferenceGrant"}, map[string]Outcome{}},
		{"--gateway NAME", ing("web", "", oneRule), Options{GatewayName: "edge"},
			[]string{"name: edge\n  namespace: shop", "parentRefs:\n  - name: edge\n"}, nil, nil},
		{"host → route hostnames, route named after the host", ing("web", "", oneRule), Options{},
			[]string{"name: shop.example.com\n  namespace: shop", "hostnames:\n  - shop.example.com"}, nil, nil},
		{"a rule without host → a route without hostnames", ing("web", "", `  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}`), Options{},
			[]string{"name: any-host"}, []string{"hostnames"}, nil},
		{"wildcard hosts are listener and route hostnames, reported", ing("web", "", `  tls:
  - {hosts: ["*.example.com"], secretName: wild}
  rules:
  - host: "*.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}`), Options{},
			[]string{"hostname: '*.example.com'\n    name: https-wildcard-example-com", "name: wildcard.example.com", "hostnames:\n  - '*.example.com'"}, nil,
			map[string]Outcome{"spec.rules[0].host": Approximated, "spec.tls[0]": Carried}},
		{"Prefix → PathPrefix without trailing slash, Exact → Exact", ing("web", "", `  rules:
  - http:
      paths:
      - {path: /foo/, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /bar, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}`), Options{},
			[]string{"type: PathPrefix\n        value: /foo\n", "type: Exact\n        value: /bar\n"}, nil, map[string]Outcome{}},
		{"GCE ImplementationSpecific /* and /foo/*", ing("web", "kubernetes.io/ingress.class: gce", `  rules:
  - http:
      paths:
      - {path: /*, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /foo/*, pathType: ImplementationSpecific, backend: {service: {name: foo, port: {number: 80}}}}
      - {path: /bar, pathType: ImplementationSpecific, backend: {service: {name: bar, port: {number: 80}}}}`), Options{},
			[]string{"type: PathPrefix\n        value: /\n", "type: PathPrefix\n        value: /foo\n", "type: Exact\n        value: /bar\n"}, nil,
			map[string]Outcome{"spec.rules[0].http.paths[0].pathType": Carried, "spec.rules[0].http.paths[1].pathType": Approximated, "spec.rules[0].http.paths[2].pathType": Carried}},
		{"GCE class from spec.ingressClassName gce-internal", ing("web", "", `  ingressClassName: gce-internal
  rules:
  - http:
      paths:
      - {path: /*, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}`), Options{},
			[]string{"type: PathPrefix\n        value: /\n"}, nil, map[string]Outcome{"spec.ingressClassName": Carried, "spec.rules[0].http.paths[0].pathType": Carried}},
		{"nginx use-regex → RegularExpression", ing("web", "nginx.ingress.kubernetes.io/use-regex: \"true\"", `  ingressClassName: nginx
  rules:
  - http:
      paths:
      - {path: "/api/v[0-9]+", pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}`), Options{},
			[]string{"type: RegularExpression\n        value: (?i)/api/v[0-9]+.*\n"}, nil,
			map[string]Outcome{"nginx.ingress.kubernetes.io/use-regex": Approximated, "spec.rules[0].http.paths[0].pathType": Approximated}},
		{"other ImplementationSpecific → PathPrefix, approximated", ing("web", "", `  ingressClassName: traefik
  rules:
  - http:
      paths:
      - {path: /app, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}`), Options{},
			[]string{"type: PathPrefix\n        value: /app\n"}, nil, map[string]Outcome{"spec.rules[0].http.paths[0].pathType": Approximated}},
		{"port by number and by name from a Service", `apiVersion: v1
kind: Service
metadata: {name: named, namespace: shop}
spec: {ports: [{name: web, port: 8443}]}
---
` + ing("web", "", `  rules:
  - http:
      paths:
      - {path: /a, pathType: Prefix, backend: {service: {name: numbered, port: {number: 8080}}}}
      - {path: /b, pathType: Prefix, backend: {service: {name: named, port: {name: web}}}}`), Options{},
			[]string{"- name: numbered\n      port: 8080", "- name: named\n      port: 8443"}, nil,
			map[string]Outcome{"spec.rules[0].http.paths[1].backend.service.port.name": Carried}},
		{"a named port without its Service is reported with the fix", ing("web", "", `  rules:
  - http:
      paths:
      - {path: /b, pathType: Prefix, backend: {service: {name: named, port: {name: web}}}}`), Options{},
			[]string{"value: /b"}, []string{"backendRefs"},
			map[string]Outcome{"spec.rules[0].http.paths[0].backend.service.port.name": NotCarried}},
		{"defaultBackend → catch-all rule, last, on the host's route and the route without hostnames", ing("web", "", `  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /cart, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}`), Options{},
			[]string{"value: /cart\n  - backendRefs:\n    - name: fallback\n      port: 80\n    matches:\n    - path:\n        type: PathPrefix\n        value: /\n---", "name: any-host"}, nil,
			map[string]Outcome{"spec.defaultBackend": Carried}},
		{"spec.tls → HTTPS listener per host with certificateRefs", ing("web", "", `  tls:
  - {hosts: [a.example.com, b.example.com], secretName: certs}
  - {secretName: fallback-cert}
`+oneRule), Options{},
			[]string{"hostname: a.example.com\n    name: https-a-example-com\n    port: 443\n    protocol: HTTPS\n    tls:\n      certificateRefs:\n      - name: certs\n      mode: Terminate", "name: https-b-example-com", "- name: https\n    port: 443"}, []string{"ReferenceGrant"},
			map[string]Outcome{"spec.tls[0]": Carried, "spec.tls[1]": Carried}},
		{"a Secret outside the Gateway's namespace gets a ReferenceGrant", ing("web", "", `  tls:
  - {hosts: [shop.example.com], secretName: shop-tls}
`+oneRule), Options{GatewayName: "edge", GatewayNamespace: "infra"},
			[]string{"kind: ReferenceGrant", "namespace: infra\n  to:\n  - group: \"\"\n    kind: Secret\n    name: shop-tls", "- name: shop-tls\n        namespace: shop", "from: Selector", "- name: edge\n    namespace: infra"}, nil, nil},
		{"allow-http false → no HTTP listener", ing("web", "kubernetes.io/ingress.allow-http: \"false\"", `  tls:
  - {hosts: [shop.example.com], secretName: shop-tls}
`+oneRule), Options{},
			nil, []string{"name: http\n", "sectionName"}, map[string]Outcome{"kubernetes.io/ingress.allow-http": Carried}},
		{"ssl-redirect with TLS → redirect route on the HTTP listener, routes on HTTPS", ing("web", "nginx.ingress.kubernetes.io/ssl-redirect: \"true\"", `  ingressClassName: nginx
  tls:
  - {hosts: [shop.example.com], secretName: shop-tls}
`+oneRule), Options{},
			[]string{"sectionName: https-shop-example-com", "name: shop.example.com-http", "sectionName: http\n", "requestRedirect:\n        scheme: https\n        statusCode: 308"}, nil,
			map[string]Outcome{"nginx.ingress.kubernetes.io/ssl-redirect": Carried}},
		{"rewrite-target without captures → URLRewrite ReplaceFullPath", ing("web", "nginx.ingress.kubernetes.io/rewrite-target: /", oneRule), Options{},
			[]string{"type: URLRewrite\n      urlRewrite:\n        path:\n          replaceFullPath: /\n          type: ReplaceFullPath"}, nil,
			map[string]Outcome{"nginx.ingress.kubernetes.io/rewrite-target": Carried}},
		{"rewrite-target with captures → not carried", ing("web", "nginx.ingress.kubernetes.io/rewrite-target: /$2", oneRule), Options{},
			nil, []string{"URLRewrite"}, map[string]Outcome{"nginx.ingress.kubernetes.io/rewrite-target": NotCarried}},
		{"backend-protocol HTTPS and GRPC → reported", ing("web", "nginx.ingress.kubernetes.io/backend-protocol: GRPC", oneRule) + strings.Replace(ing("tls", "nginx.ingress.kubernetes.io/backend-protocol: HTTPS", oneRule), "name: tls", "name: tls", 1), Options{},
			nil, nil, map[string]Outcome{"nginx.ingress.kubernetes.io/backend-protocol": NotCarried}},
		{"global-static-ip-name without --static-ip → not carried", ing("web", "kubernetes.io/ingress.global-static-ip-name: web-ip", oneRule), Options{},
			nil, []string{"addresses"}, map[string]Outcome{"kubernetes.io/ingress.global-static-ip-name": NotCarried}},
		{"--static-ip fills spec.addresses", ing("web", "kubernetes.io/ingress.global-static-ip-name: web-ip", oneRule), Options{StaticIPs: map[string]string{"web-ip": "203.0.113.7"}},
			[]string{"addresses:\n  - type: IPAddress\n    value: 203.0.113.7"}, nil, map[string]Outcome{"kubernetes.io/ingress.global-static-ip-name": Carried}},
		{"pre-shared-cert → not carried", ing("web", "ingress.gcp.kubernetes.io/pre-shared-cert: my-cert", oneRule), Options{},
			nil, nil, map[string]Outcome{"ingress.gcp.kubernetes.io/pre-shared-cert": NotCarried}},
		{"ingress.class → carried", ing("web", "kubernetes.io/ingress.class: istio", oneRule), Options{},
			[]string{"gatewayClassName: istio"}, nil, map[string]Outcome{"kubernetes.io/ingress.class": Carried}},
		{"annotations of known controllers are reported by name, others ignored", ing("web", `nginx.ingress.kubernetes.io/proxy-body-size: 8m, alb.ingress.kubernetes.io/scheme: internet-facing,
    ingress.kubernetes.io/ssl-redirect: "true", networking.gke.io/v1beta1.FrontendConfig: fc, cloud.google.com/backend-config: "{}",
    kubernetes.io/ingress.something: x, traefik.ingress.kubernetes.io/router.entrypoints: web, haproxy.org/timeout-client: 5s,
    konghq.com/strip-path: "true", cert-manager.io/cluster-issuer: letsencrypt,
    kubectl.kubernetes.io/last-applied-configuration: "{}", meta.helm.sh/release-name: web, team: shop`, oneRule), Options{},
			nil, nil, map[string]Outcome{
				"nginx.ingress.kubernetes.io/proxy-body-size": NotCarried, "alb.ingress.kubernetes.io/scheme": NotCarried,
				"ingress.kubernetes.io/ssl-redirect": NotCarried, "networking.gke.io/v1beta1.FrontendConfig": NotCarried,
				"cloud.google.com/backend-config": NotCarried, "kubernetes.io/ingress.something": NotCarried,
				"traefik.ingress.kubernetes.io/router.entrypoints": NotCarried, "haproxy.org/timeout-client": NotCarried,
				"konghq.com/strip-path": NotCarried, "cert-manager.io/cluster-issuer": NotCarried,
			}},
		{"Ingresses sharing a host merge into one route; annotations stay with their rules", ing("a", "nginx.ingress.kubernetes.io/rewrite-target: /v1", `  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}`) + ing("b", "", oneRule), Options{},
			[]string{"meshguard.dev/converted-from: ingress/a,ingress/b\n  name: shop.example.com\n", "replaceFullPath: /v1\n          type: ReplaceFullPath\n    matches:\n    - path:\n        type: PathPrefix\n        value: /api\n  - backendRefs:\n    - name: web\n      port: 80\n    matches:\n    - path:\n        type: PathPrefix\n        value: /\n"},
			[]string{"shop.example.com-2"}, nil},
		{"a retired extensions/v1beta1 Ingress is read", `apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: old, namespace: shop}
spec:
  backend: {serviceName: fallback, servicePort: 8080}
  rules:
  - http:
      paths:
      - {path: /api, backend: {serviceName: api, servicePort: http}}
`, Options{},
			[]string{"- name: fallback\n      port: 8080"}, nil,
			map[string]Outcome{"apiVersion": Carried, "spec.rules[0].http.paths[0].pathType": Approximated, "spec.rules[0].http.paths[0].backend.service.port.name": NotCarried}},
		{"more than 16 paths split into routes of 16 rules", ing("web", "", "  rules:\n  - host: big.example.com\n    http:\n      paths:\n"+manyPaths(20)), Options{},
			[]string{"name: big.example.com\n", "name: big.example.com-2\n"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Convert(read(t, tc.manifests), tc.opts)
			out := yamlOf(t, res)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the output lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("the output holds %q", w)
				}
			}
			got := outcomes(res)
			for what, o := range tc.report {
				if got[what] != o {
					t.Errorf("report for %s = %q, want %q", what, got[what], o)
				}
			}
			if tc.report != nil && len(tc.report) == 0 && !res.Report.AllCarried() {
				t.Errorf("want everything carried, report: %+v", res.Report.Entries)
			}
			for _, e := range res.Report.Entries {
				if e.Message == "" || e.Ingress == "" || e.What == "" {
					t.Errorf("incomplete report entry %+v", e)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s\nreport: %+v", out, res.Report.Entries)
			}
			validate(t, res)
		})
	}
}

func manyPaths(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("      - {path: /p" + string(rune('a'+i)) + ", pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n")
	}
	return b.String()
}

func TestIgnoredAnnotationsAreNotReported(t *testing.T) {
	res := Convert(read(t, ing("web", `kubectl.kubernetes.io/last-applied-configuration: "{}", meta.helm.sh/release-name: web, meshguard.dev/exempt: ingress-in-mesh`, oneRule)), Options{})
	if len(res.Report.Entries) != 0 {
		t.Errorf("report: %+v, want nothing", res.Report.Entries)
	}
}
