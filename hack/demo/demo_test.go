package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemoOnce runs `make demo ONCE=1`'s code: every outcome must be the
// expected one and the printout must show the key lines.
func TestDemoOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, options{Repo: "../..", Once: true, Out: &out})
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{
		`DENIED        Ingress my-app`,
		`[ingress-in-mesh] Ingress "my-app" is not allowed in namespace "my-app"`,
		"`kubectl meshguard convert -n my-app -f examples/story/ingress.yaml` prints:",
		`    gatewayClassName: istio`,
		`report: my-app/my-app: kubernetes.io/ingress.global-static-ip-name: not-carried`,
		`ALLOWED       Gateway gateway`,
		`ALLOWED       HTTPRoute dev.my-app.com`,
		`MUTATED       ConfigMap my-nginx-conf`,
		`+        proxy_http_version 1.1;`,
		`MUTATED       ServiceEntry external-google-api`,
		`+- 169.254.169.254`,
		`MUTATED       Gateway my-gateway`,
		`+    credentialName: istio-ingressgateway-certs`,
		`WOULD CHANGE  Gateway my-gateway`,
		`WOULD DENY    Ingress my-app`,
		`WOULD CHANGE  ConfigMap my-nginx-conf`,
		`(audit) would deny:`,
		`audit mode: 10 objects applied, 0 denied or changed`,
		`demo: 22 outcomes as expected`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
