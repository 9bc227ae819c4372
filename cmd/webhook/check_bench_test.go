package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	offline "github.com/meshguard/meshguard/pkg/check"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/policy"
)

// manifestSet generates files of 100 documents each, a mix of what a cluster's
// manifests hold: per file one Namespace (every other one in the mesh), and
// Ingresses (half of them GCE, denied in meshed namespaces), ConfigMaps (half
// nginx proxies), ServiceEntries for the metadata server, Deployments,
// Services and VirtualServices.
func manifestSet(objects int) []offline.Input {
	var inputs []offline.Input
	for f := 0; f*100 < objects; f++ {
		var b strings.Builder
		ns := fmt.Sprintf("team-%d", f)
		label := "disabled"
		if f%2 == 0 {
			label = "enabled"
		}
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    istio-injection: %s\n", ns, label)
		for i := 1; i < 100 && f*100+i < objects; i++ {
			b.WriteString("---\n")
			name := fmt.Sprintf("obj-%d", i)
			switch i % 10 {
			case 0, 1:
				class := "istio"
				if i%2 == 0 {
					class = "gce"
				}
				fmt.Fprintf(&b, "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: %s\n  namespace: %s\n  annotations:\n    kubernetes.io/ingress.class: %s # the load balancer\nspec:\n  rules:\n  - host: %s.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: web\n            port:\n              number: 80\n", name, ns, class, name)
			case 2, 3:
				conf := "color=blue\nsize=10"
				if i%2 == 0 {
					conf = "server {\n  listen 80;\n  location / {\n    proxy_pass http://backend.svc.cluster.local;\n    proxy_set_header Host $host;\n  }\n}"
				}
				fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  default.conf: |\n    %s\n", name, ns, strings.ReplaceAll(conf, "\n", "\n    "))
			case 4:
				fmt.Fprintf(&b, "apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  hosts:\n  - metadata.google.internal\n  - 169.254.169.254\n  location: MESH_EXTERNAL\n  ports:\n  - number: 80\n    name: http\n    protocol: HTTP\n", name, ns)
			case 5, 6, 7:
				fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: %s}\n  template:\n    metadata:\n      labels: {app: %s}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/app:1.2.3\n        ports:\n        - containerPort: 8080\n", name, ns, name, name)
			case 8:
				fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  selector: {app: %s}\n  ports:\n  - port: 80\n    targetPort: 8080\n", name, ns, name)
			default:
				fmt.Fprintf(&b, "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  hosts: [%s]\n  http:\n  - route:\n    - destination: {host: web}\n", name, ns, name)
			}
		}
		inputs = append(inputs, offline.Input{Name: fmt.Sprintf("gen/%03d.yaml", f), Data: []byte(b.String())})
	}
	return inputs
}

// BenchmarkCheck10k runs the server's own rule list over 10,000 generated
// objects, parsing included, and reports objects per second; "fix" also
// writes the mutating rules' changes.
func BenchmarkCheck10k(b *testing.B) {
	const objects = 10000
	inputs := manifestSet(objects)
	var size int
	for _, in := range inputs {
		size += len(in.Data)
	}
	rulesFn := func(c cluster.Reader) policy.Rules { return rules(c, settings{}) }
	for _, fix := range []bool{false, true} {
		name := "report"
		if fix {
			name = "fix"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				files := make([]*offline.File, len(inputs))
				n := 0
				for i, in := range inputs {
					files[i] = offline.Parse(in)
					n += len(files[i].Objects)
				}
				r := offline.Run(context.Background(), files, offline.Options{Rules: rulesFn, AllowExemptions: true, Fix: fix})
				if n != objects || len(r.Errors()) > 0 || r.ExitCode() != offline.ExitFindings {
					b.Fatalf("%d objects, errors %v, exit %d", n, r.Errors(), r.ExitCode())
				}
			}
			b.ReportMetric(float64(objects*b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}
