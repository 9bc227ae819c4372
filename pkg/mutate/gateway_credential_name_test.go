package mutate

import (
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/golden"
	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
)

const gatewayDir = "testdata/gateway-credential-name"

// gatewayHandler serves the mutating webhook with only GatewayCredentialName.
func gatewayHandler(t testing.TB, modes policy.Modes) http.Handler {
	t.Helper()
	h, _ := handler(t, modes, GatewayCredentialName{})
	return h
}

func TestGatewayCredentialNameGolden(t *testing.T) {
	golden.Run(t, gatewayHandler(t, policy.Modes{Default: policy.Enforce}), gatewayDir, *update)
}

func TestGatewayCredentialName(t *testing.T) {
	enforce, audit := policy.Modes{Default: policy.Enforce}, policy.Modes{Default: policy.Audit}
	tests := map[string]struct {
		modes    policy.Modes
		file     string
		patch    []string // substrings of the patch; nil: no patch
		warnings []string // substrings; nil: no warning
	}{
		"the story's Gateway gets the same Secret through SDS": {
			modes: enforce, file: "story-2018.in.yaml",
			patch: []string{`{"op":"remove","path":"/spec/servers/0/tls/serverCertificate"}`, `{"op":"remove","path":"/spec/servers/0/tls/privateKey"}`,
				`{"op":"add","path":"/spec/servers/0/tls/credentialName","value":"istio-ingressgateway-certs"}`},
			warnings: []string{`[gateway-credential-name] Gateway "my-gateway" server 0 (port 443, https): serverCertificate /etc/istio/ingressgateway-certs/tls.crt and privateKey /etc/istio/ingressgateway-certs/tls.key → credentialName: istio-ingressgateway-certs`,
				"SDS", "source manifest"}},
		"audit mode shows the would-be change and patches nothing": {
			modes: audit, file: "story-2018.in.yaml",
			warnings: []string{"[gateway-credential-name] (audit) would change (not applied): Gateway \"my-gateway\" server 0"}},
		"a Gateway with credentialName is left alone": {
			modes: enforce, file: "already-sds.in.yaml"},
		"MUTUAL with the legacy CA is warned, with the Secrets to use": {
			modes: enforce, file: "mutual-legacy-ca.in.yaml",
			warnings: []string{`Gateway "partners" server 0 (port 443, https-mtls) reads its certificates from files (serverCertificate /etc/istio/ingressgateway-certs/tls.crt, privateKey /etc/istio/ingressgateway-certs/tls.key, caCertificates /etc/istio/ingressgateway-ca-certs/ca-chain.cert.pem), left as written`,
				"credentialName: istio-ingressgateway-certs (with the CA of istio-ingressgateway-ca-certs added as ca.crt"}},
		"custom paths are warned, never guessed": {
			modes: enforce, file: "custom-paths.in.yaml",
			warnings: []string{"serverCertificate /etc/certs/shop/cert.pem", "credentialName: <a Secret holding this certificate and key>"}},
		"only the legacy server of several changes": {
			modes: enforce, file: "several-servers.in.yaml",
			patch: []string{`"path":"/spec/servers/1/tls/credentialName"`}, warnings: []string{"server 1 (port 443, https)"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp := reviewtest.Send(t, gatewayHandler(t, tc.modes), reviewtest.Req{Op: admissionv1.Create, Object: reviewtest.Load(t, gatewayDir+"/"+tc.file)})
			if !resp.Allowed {
				t.Fatalf("a mutating rule never denies: %+v", resp.Result)
			}
			if (len(resp.Patch) > 0) != (tc.patch != nil) {
				t.Fatalf("patch = %s, want one: %v", resp.Patch, tc.patch != nil)
			}
			for _, p := range tc.patch {
				if !strings.Contains(string(resp.Patch), p) {
					t.Errorf("patch lacks %s:\n%s", p, resp.Patch)
				}
			}
			reviewtest.Warnings(t, resp.Warnings, tc.warnings, nil)
		})
	}
}
