package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestHelmLintStrict(t *testing.T) {
	helm := helmBinary(t)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, []byte(testCA), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string][]string{
		"default values":              nil,
		"self certificates":           {"--set", "certificates.mode=self"},
		"cert-manager certificates":   {"--set", "certificates.mode=cert-manager"},
		"cert-manager with an issuer": {"--set", "certificates.mode=cert-manager,certificates.certManager.issuerRef.name=corp,certificates.certManager.issuerRef.kind=ClusterIssuer"},
		"provided certificates":       {"--set", "certificates.mode=provided,certificates.provided.secretName=my-tls", "--set-file", "certificates.provided.caBundle=" + caFile},
		"audit with every option on":  {"--set", "mode=audit,meshByDefault=true,metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,networkPolicy.enabled=true"},
		"rules off, written as --set": {"--set", "rules.ingress-in-mesh.mode=off,rules.gce-metadata-address.mode=audit"},
	}
	for name, extra := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", "--namespace", releaseNS, chartDir}, extra...)
			out, err := exec.Command(helm, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("helm %v: %v\n%s", args, err, out)
			}
		})
	}
}
