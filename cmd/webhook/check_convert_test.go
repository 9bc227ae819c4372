package main

import (
	"strings"
	"testing"
)

// TestCheckConvert: --convert prints the replacement of the story's denied
// Ingress on stdout, and on stderr the findings first, then the
// conversion's report; the exit code stays check's.
func TestCheckConvert(t *testing.T) {
	code, out, errOut := runCheck(t, "", "-f", storyDir, "--convert")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the Ingress is denied); stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"kind: Gateway\n", "kind: HTTPRoute\n", "meshguard.dev/converted-from: ingress/my-app", "certificateRefs:\n      - name: my-app-tls"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[ingress-in-mesh]") || strings.Contains(out, "kind: Ingress\n") {
		t.Errorf("stdout holds more than the replacement:\n%s", out)
	}
	finding := strings.Index(errOut, "[ingress-in-mesh] Ingress \"my-app\" is not allowed")
	report := strings.Index(errOut, "my-app/my-app: kubernetes.io/ingress.global-static-ip-name: not-carried")
	if finding < 0 || report < finding {
		t.Errorf("stderr: want the finding, then the conversion's report naming the static IP:\n%s", errOut)
	}
}

// TestCheckConvertNothingDenied: an Ingress outside the mesh is not
// converted, and check says so.
func TestCheckConvertNothingDenied(t *testing.T) {
	code, out, errOut := runCheck(t, "", "-f", storyDir+"/ingress.yaml", "--namespace-labels", "my-app=team=web", "--convert")
	if code != 0 || out != "" || !strings.Contains(errOut, "no Ingress is denied, nothing to convert") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestCheckConvertWithFixNeedsInPlace(t *testing.T) {
	code, _, errOut := runCheck(t, "", "-f", storyDir, "--convert", "--fix")
	if code != 2 || !strings.Contains(errOut, "--convert and --fix both print to stdout") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
