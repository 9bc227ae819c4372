package convert

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// BenchmarkConvert converts 1,000 Ingresses (100 namespaces, TLS, a few
// paths and annotations each) per iteration; Ingresses/s is reported.
func BenchmarkConvert(b *testing.B) {
	in := read(b, benchManifests())
	if len(in.Ingresses) != 1000 {
		b.Fatalf("read %d Ingresses", len(in.Ingresses))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Convert(in, Options{})
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "Ingresses/s")
}

// BenchmarkConvertManifests is what `webhook convert` does with 1,000
// Ingresses: read the YAML, convert, write the objects and the report.
func BenchmarkConvertManifests(b *testing.B) {
	data := []byte(benchManifests())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		in := &Input{}
		if err := in.Read("bench.yaml", data); err != nil {
			b.Fatal(err)
		}
		res := Convert(in, Options{})
		if err := res.WriteYAML(io.Discard); err != nil {
			b.Fatal(err)
		}
		if err := res.Report.Write(io.Discard, FormatText); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "Ingresses/s")
}

func benchManifests() string {
	var s strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&s, `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-%d
  namespace: team-%d
  annotations:
    kubernetes.io/ingress.class: nginx
    nginx.ingress.kubernetes.io/proxy-body-size: 8m
    nginx.ingress.kubernetes.io/ssl-redirect: "true"
spec:
  tls:
  - {hosts: [app-%d.example.com], secretName: app-%d-tls}
  rules:
  - host: app-%d.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 8080}}}}
      - {path: /healthz, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
---
`, i, i%100, i, i, i)
	}
	return s.String()
}
