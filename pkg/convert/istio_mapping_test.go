package convert

import (
	"strings"
	"testing"
)

// TestIstioMapping has a case per row of docs/convert.md's Istio mapping
// table: what the Istio objects hold (and must not), and what the report
// says.
func TestIstioMapping(t *testing.T) {
	tests := []struct {
		name      string
		manifests string
		opts      Options
		want      []string
		notWant   []string
		report    map[string]Outcome
	}{
		{"one Istio Gateway per namespace selecting the ingressgateway, HTTP on port 80", ing("web", "", oneRule), Options{},
			[]string{"apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  annotations:\n    meshguard.dev/converted-from: ingress/web\n  name: gateway\n  namespace: shop\nspec:\n  selector:\n    istio: ingressgateway\n  servers:\n  - hosts:\n    - '*'\n    port:\n      name: http\n      number: 80\n      protocol: HTTP\n"},
			[]string{"gateway.networking.k8s.io", "HTTPRoute", "tls:"}, map[string]Outcome{}},
		{"--gateway NAME.NS: one Istio Gateway there, VirtualServices stay with their Ingress", ing("web", "", oneRule), Options{GatewayName: "edge", GatewayNamespace: "infra"},
			[]string{"name: edge\n  namespace: infra", "kind: VirtualService\nmetadata:\n  annotations:\n    meshguard.dev/converted-from: ingress/web\n  name: shop.example.com\n  namespace: shop\nspec:\n  gateways:\n  - infra/edge\n  hosts:\n  - shop.example.com\n"},
			[]string{"ReferenceGrant"}, nil},
		{"a host → a VirtualService for it; a rule without host → hosts *", ing("web", "", oneRule+`
  - http:
      paths:
      - {path: /x, pathType: Exact, backend: {service: {name: x, port: {number: 80}}}}`), Options{},
			[]string{"hosts:\n  - shop.example.com\n", "name: any-host\n  namespace: shop\nspec:\n  gateways:\n  - shop/gateway\n  hosts:\n  - '*'\n"}, nil, nil},
		{"wildcard hosts as they are, reported", ing("web", "", `  tls:
  - {hosts: ["*.example.com"], secretName: wild}
  rules:
  - host: "*.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}`), Options{},
			[]string{"name: wildcard.example.com", "hosts:\n  - '*.example.com'\n  http:", "- hosts:\n    - '*.example.com'\n    port:\n      name: https-wild"}, nil,
			map[string]Outcome{"spec.rules[0].host": Approximated, "spec.tls[0]": Carried}},
		{"Prefix → exact + prefix with /, element-wise; Exact → exact; / → prefix /", ing("web", "", `  rules:
  - http:
      paths:
      - {path: /foo/, pathType: Prefix, backend: {service: {name: foo, port: {number: 80}}}}
      - {path: /bar, pathType: Exact, backend: {service: {name: bar, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: root, port: {number: 80}}}}`), Options{},
			[]string{"- match:\n    - uri:\n        exact: /foo\n    - uri:\n        prefix: /foo/\n    route:\n    - destination:\n        host: foo.shop.svc.cluster.local\n        port:\n          number: 80\n",
				"- match:\n    - uri:\n        exact: /bar\n", "- match:\n    - uri:\n        prefix: /\n    route:\n    - destination:\n        host: root.shop.svc.cluster.local"},
			[]string{"prefix: /foo\n"}, map[string]Outcome{}},
		{"routes longest path first, an exact before a prefix of the same length", ing("web", "", `  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: root, port: {number: 80}}}}
      - {path: /a, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}
      - {path: /a/b, pathType: Prefix, backend: {service: {name: ab, port: {number: 80}}}}
      - {path: /a, pathType: Exact, backend: {service: {name: exact-a, port: {number: 80}}}}`), Options{},
			[]string{"exact: /a/b\n    - uri:\n        prefix: /a/b/\n    route:\n    - destination:\n        host: ab.shop.svc.cluster.local\n        port:\n          number: 80\n  - match:\n    - uri:\n        exact: /a\n    route:\n    - destination:\n        host: exact-a.shop.svc.cluster.local\n        port:\n          number: 80\n  - match:\n    - uri:\n        exact: /a\n    - uri:\n        prefix: /a/\n    route:\n    - destination:\n        host: a.shop.svc.cluster.local\n        port:\n          number: 80\n  - match:\n    - uri:\n        prefix: /\n"},
			nil, map[string]Outcome{}},
		{"ImplementationSpecific: GCE /* and /foo/*, class istio /static/*, nginx regex", ing("gce", "kubernetes.io/ingress.class: gce", `  rules:
  - http:
      paths:
      - {path: /*, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /foo/*, pathType: ImplementationSpecific, backend: {service: {name: foo, port: {number: 80}}}}`) +
			strings.Replace(ing("mesh", "", `  ingressClassName: istio
  rules:
  - host: mesh.example.com
    http:
      paths:
      - {path: /static/*, pathType: ImplementationSpecific, backend: {service: {name: static, port: {number: 80}}}}`), "namespace: shop", "namespace: mesh", 1) +
			strings.Replace(ing("rx", "nginx.ingress.kubernetes.io/use-regex: \"true\"", `  ingressClassName: nginx
  rules:
  - host: rx.example.com
    http:
      paths:
      - {path: "/api/v[0-9]+", pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 80}}}}`), "namespace: shop", "namespace: rx", 1), Options{},
			[]string{"exact: /foo\n    - uri:\n        prefix: /foo/\n", "exact: /static\n    - uri:\n        prefix: /static/\n", "regex: (?i)/api/v[0-9]+.*\n"}, nil,
			map[string]Outcome{"nginx.ingress.kubernetes.io/use-regex": Approximated, "spec.ingressClassName": Carried}},
		{"a named port is resolved from the Service", `apiVersion: v1
kind: Service
metadata: {name: named, namespace: shop}
spec: {ports: [{name: web, port: 8443}]}
---
` + ing("web", "", `  rules:
  - http:
      paths:
      - {path: /b, pathType: Prefix, backend: {service: {name: named, port: {name: web}}}}
      - {path: /c, pathType: Prefix, backend: {service: {name: missing, port: {name: web}}}}`), Options{},
			[]string{"host: named.shop.svc.cluster.local\n        port:\n          number: 8443", "directResponse:\n      status: 500\n    match:\n    - uri:\n        exact: /c"}, nil,
			map[string]Outcome{"spec.rules[0].http.paths[0].backend.service.port.name": Carried, "spec.rules[0].http.paths[1].backend.service.port.name": NotCarried}},
		{"defaultBackend → a catch-all route last on its hosts and in the VirtualService for *", ing("web", "", `  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /cart, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}`), Options{},
			[]string{"prefix: /cart/\n    route:\n    - destination:\n        host: web.shop.svc.cluster.local\n        port:\n          number: 80\n  - match:\n    - uri:\n        prefix: /\n    route:\n    - destination:\n        host: fallback.shop.svc.cluster.local",
				"name: any-host\n  namespace: shop\nspec:\n  gateways:\n  - shop/gateway\n  hosts:\n  - '*'\n  http:\n  - match:\n    - uri:\n        prefix: /\n    route:\n    - destination:\n        host: fallback.shop.svc.cluster.local"}, nil,
			map[string]Outcome{"spec.defaultBackend": Carried}},
		{"spec.tls → HTTPS server with credentialName, never file-mounted certificates; the Secret must be in istio-system", ing("web", "", `  tls:
  - {hosts: [a.example.com, b.example.com], secretName: certs}
  - {secretName: fallback-cert}
`+oneRule), Options{},
			[]string{"- hosts:\n    - a.example.com\n    - b.example.com\n    port:\n      name: https-certs\n      number: 443\n      protocol: HTTPS\n    tls:\n      credentialName: certs\n      mode: SIMPLE\n",
				"- hosts:\n    - '*'\n    port:\n      name: https-fallback-cert\n      number: 443\n      protocol: HTTPS\n    tls:\n      credentialName: fallback-cert\n      mode: SIMPLE\n"},
			[]string{"serverCertificate", "privateKey", "/etc/istio", "ReferenceGrant"},
			map[string]Outcome{"spec.tls[0]": Carried, "spec.tls[1]": Carried, "spec.tls[0].secretName": NotCarried, "spec.tls[1].secretName": NotCarried}},
		{"a Secret already in istio-system is carried", strings.Replace(ing("web", "", `  tls:
  - {hosts: [shop.example.com], secretName: shop-tls}
`+oneRule), "namespace: shop", "namespace: istio-system", 1), Options{},
			[]string{"credentialName: shop-tls"}, nil, map[string]Outcome{"spec.tls[0].secretName": Carried}},
		{"allow-http false → the host is on no port 80 server", ing("web", "kubernetes.io/ingress.allow-http: \"false\"", `  tls:
  - {hosts: [shop.example.com], secretName: shop-tls}
`+oneRule), Options{},
			[]string{"port:\n      name: https-shop-tls"}, []string{"name: http\n", "protocol: HTTP\n", "httpsRedirect"}, map[string]Outcome{"kubernetes.io/ingress.allow-http": Carried}},
		{"ssl-redirect with TLS → httpsRedirect on a port 80 server for the host, reported as 301", ing("web", "nginx.ingress.kubernetes.io/ssl-redirect: \"true\"", `  ingressClassName: nginx
  tls:
  - {hosts: [shop.example.com], secretName: shop-tls}
`+oneRule+`
  - host: plain.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: plain, port: {number: 80}}}}`), Options{},
			[]string{"- hosts:\n    - plain.example.com\n    port:\n      name: http\n      number: 80\n      protocol: HTTP\n  - hosts:\n    - shop.example.com\n    port:\n      name: http-redirect\n      number: 80\n      protocol: HTTP\n    tls:\n      httpsRedirect: true\n"}, nil,
			map[string]Outcome{"nginx.ingress.kubernetes.io/ssl-redirect": Approximated}},
		{"rewrite-target → rewrite.uri on exact routes, uriRegexRewrite of the whole path on the others", ing("web", "nginx.ingress.kubernetes.io/rewrite-target: /", `  rules:
  - http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /ping, pathType: Exact, backend: {service: {name: api, port: {number: 80}}}}`), Options{},
			[]string{"rewrite:\n      uriRegexRewrite:\n        match: ^.*$\n        rewrite: /\n", "exact: /ping\n    rewrite:\n      uri: /\n"}, nil,
			map[string]Outcome{"nginx.ingress.kubernetes.io/rewrite-target": Carried}},
		{"rewrite-target with captures → not carried, no rewrite", ing("web", "nginx.ingress.kubernetes.io/rewrite-target: /$2", oneRule), Options{},
			nil, []string{"rewrite"}, map[string]Outcome{"nginx.ingress.kubernetes.io/rewrite-target": NotCarried}},
		{"Ingresses of one namespace sharing a host merge into one VirtualService", ing("a", "", `  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}`) + ing("b", "", oneRule), Options{},
			[]string{"meshguard.dev/converted-from: ingress/a,ingress/b\n  name: shop.example.com\n", "host: api.shop.svc.cluster.local", "host: web.shop.svc.cluster.local"},
			[]string{"shop.example.com-2"}, map[string]Outcome{}},
		{"a host shared across namespaces on one Gateway is reported", ing("a", "", oneRule) + strings.Replace(ing("b", "", oneRule), "namespace: shop", "namespace: blog", 1), Options{GatewayName: "edge", GatewayNamespace: "infra"},
			[]string{"name: shop.example.com\n  namespace: blog", "name: shop.example.com\n  namespace: shop"}, nil,
			map[string]Outcome{"spec.rules[0].host": Approximated}},
		{"static IPs are not an Istio Gateway field", ing("web", "kubernetes.io/ingress.global-static-ip-name: web-ip", oneRule), Options{StaticIPs: map[string]string{"web-ip": "203.0.113.7"}},
			nil, []string{"addresses", "203.0.113.7"}, map[string]Outcome{"kubernetes.io/ingress.global-static-ip-name": NotCarried}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.To = TargetIstio
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
			if len(res.Gateways)+len(res.HTTPRoutes)+len(res.ReferenceGrants) > 0 || len(res.IstioGateways) == 0 {
				t.Errorf("want Istio objects only: %d Istio Gateways", len(res.IstioGateways))
			}
			if t.Failed() {
				t.Logf("output:\n%s\nreport: %+v", out, res.Report.Entries)
			}
			validate(t, res)
		})
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{"": TargetGatewayAPI, "gateway-api": TargetGatewayAPI, "istio": TargetIstio} {
		if got, err := ParseTarget(in); err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseTarget("contour"); err == nil || !strings.Contains(err.Error(), "gateway-api or istio") {
		t.Errorf("ParseTarget(contour): %v", err)
	}
	if res := Convert(read(t, ing("web", "", oneRule)), Options{}); res.Target != TargetGatewayAPI || len(res.Gateways) != 1 {
		t.Errorf("the default target is not Gateway API: %q", res.Target)
	}
}
