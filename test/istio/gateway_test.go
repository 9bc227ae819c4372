package istio

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"istio.io/istio/pkg/config/validation"
)

// gatewayDir holds the gateway-credential-name golden cases of the webhook module.
const gatewayDir = "../../pkg/mutate/testdata/gateway-credential-name"

// TestIstiodAcceptsEveryGatewayBeforeAndAfter runs istiod's Gateway
// validation on every input and every output of gateway-credential-name:
// the story's Gateway is accepted as written (Istio does not warn about
// file-mounted certificates, which is why the rule exists) and after the
// change to credentialName.
func TestIstiodAcceptsEveryGatewayBeforeAndAfter(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(gatewayDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("no golden cases in %s", gatewayDir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			warn, err := validateAs(t, f, "Gateway", validation.ValidateGateway)
			if err != nil {
				t.Fatalf("istiod rejects it: %v", err)
			}
			if warn != nil {
				t.Logf("istiod warns: %v", warn)
			}
		})
	}
}

// TestIstiodRejectsABrokenGateway keeps the check above honest: a Gateway
// istiod must refuse is refused through the same path.
func TestIstiodRejectsABrokenGateway(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.yaml")
	writeFile(t, path, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: broken, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE}
`)
	_, err := validateAs(t, path, "Gateway", validation.ValidateGateway)
	if err == nil || !strings.Contains(err.Error(), "credentialName") && !strings.Contains(err.Error(), "server certificate") {
		t.Fatalf("want istiod to reject a SIMPLE server without certificate, got %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
