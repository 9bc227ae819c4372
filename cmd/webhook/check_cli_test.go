package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckUsage(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"no input":                          {nil, "no input: pass -f PATH"},
		"an unknown output format":          {[]string{"-f", storyDir, "-o", "xml"}, `-o "xml": use text, json or junit`},
		"--in-place without --fix":          {[]string{"-f", storyDir, "--in-place"}, "--in-place only makes sense with --fix"},
		"--in-place on stdin":               {[]string{"-f", "-", "--fix", "--in-place"}, "--in-place cannot rewrite stdin"},
		"an audit rule mode":                {[]string{"-f", storyDir, "--rule-mode", "ingress-in-mesh=audit"}, "check reports what enforce mode would do; use RULE=off"},
		"an unknown rule":                   {[]string{"-f", storyDir, "--rule-mode", "nope=off"}, `unknown rule "nope"`},
		"namespace labels without a name":   {[]string{"-f", storyDir, "--namespace-labels", "=a=b"}, "use NAME=key=value,key=value"},
		"namespace labels that are not k=v": {[]string{"-f", storyDir, "--namespace-labels", "shop=a"}, `"a" is not key=value`},
		"a path given without -f":           {[]string{"-f", storyDir, "extra.yaml"}, `unexpected argument "extra.yaml": name inputs with -f`},
		"a path that does not exist":        {[]string{"-f", "does-not-exist"}, "-f does-not-exist: no such file or directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCheck(t, "", tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

func TestCheckHelpDocumentsExitCodesAndFormats(t *testing.T) {
	code, _, errOut := runCheck(t, "", "--help")
	for _, want := range []string{"Exit codes:", "0  no denials", "1  findings", "2  usage error", "junit", "severity (deny, warn or change)", "meshguard.dev/mutated", "-mesh-namespace", "-namespace-labels"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	var out bytes.Buffer
	if run([]string{"help"}, &out, &out); !strings.Contains(out.String(), "webhook check -f PATH") {
		t.Errorf("main usage does not list check:\n%s", out.String())
	}
}

func TestCheckExitCodes(t *testing.T) {
	const (
		meshGW    = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: i\n  namespace: shop\n  annotations: {kubernetes.io/ingress.class: mesh-gw}\n"
		classless = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: shop}\n"
	)
	tests := map[string]struct {
		stdin string
		args  []string
		code  int
	}{
		"the Istio way is clean":                               {"", []string{"-f", storyDir + "/virtualservice.yaml", "-f", storyDir + "/namespace.yaml"}, 0},
		"a denial exits 1":                                     {"", []string{"-f", storyDir}, 1},
		"an unknown namespace exits 1":                         {"", []string{"-f", storyDir + "/ingress.yaml"}, 1},
		"a flag makes the namespace known":                     {"", []string{"-f", storyDir + "/ingress.yaml", "--namespace-labels", "my-app=istio-injection=disabled"}, 0},
		"--mesh-namespace puts it in the mesh":                 {"", []string{"-f", storyDir + "/ingress.yaml", "--mesh-namespace", "my-app"}, 1},
		"a rule turned off is skipped":                         {"", []string{"-f", storyDir + "/ingress.yaml", "--rule-mode", "ingress-in-mesh=off"}, 0},
		"stdin is read with -":                                 {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", []string{"-f", "-"}, 0},
		"an unreadable document exits 2":                       {"apiVersion: v1\nkind: [\n", []string{"-f", "-"}, 2},
		"unknown kinds are fine":                               {"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", []string{"-f", "-"}, 0},
		"--mesh-by-default meshes unlabelled ones":             {"apiVersion: v1\nkind: Namespace\nmetadata: {name: plain}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: plain}\n", []string{"-f", "-", "--mesh-by-default"}, 1},
		"system namespaces stay out of it":                     {"apiVersion: v1\nkind: Namespace\nmetadata: {name: infra}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: infra}\n", []string{"-f", "-", "--mesh-by-default", "--system-namespaces", "infra"}, 0},
		"objects without namespace use --namespace":            {"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n", []string{"-f", "-", "--namespace", "shop", "--mesh-namespace", "shop"}, 1},
		"exemptions with a reason are honoured":                {"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: i\n  annotations: {meshguard.dev/exempt: ingress-in-mesh, meshguard.dev/exempt-reason: migrating}\n", []string{"-f", "-", "--mesh-namespace", "default"}, 0},
		"unless the cluster turns exemptions off":              {"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: i\n  annotations: {meshguard.dev/exempt: ingress-in-mesh, meshguard.dev/exempt-reason: migrating}\n", []string{"-f", "-", "--mesh-namespace", "default", "--allow-exemptions=false"}, 1},
		"JUnit output keeps the exit code of findings":         {"", []string{"-f", storyDir, "-o", "junit"}, 1},
		"a custom Istio ingress class is Istio's":              {meshGW, []string{"-f", "-", "--mesh-namespace", "shop", "--istio-ingress-class", "mesh-gw"}, 0},
		"by default that class is someone else's":              {meshGW, []string{"-f", "-", "--mesh-namespace", "shop"}, 1},
		"DEFAULT mode serves class-less Ingresses":             {classless, []string{"-f", "-", "--mesh-namespace", "shop", "--istio-ingress-controller-mode", "default"}, 0},
		"STRICT mode does not":                                 {classless, []string{"-f", "-", "--mesh-namespace", "shop", "--istio-ingress-controller-mode", "STRICT"}, 1},
		"the story's file-mounted Gateway certificate exits 1": {"apiVersion: networking.istio.io/v1alpha3\nkind: Gateway\nmetadata: {name: g, namespace: istio-system}\nspec:\n  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, serverCertificate: /etc/istio/ingressgateway-certs/tls.crt, privateKey: /etc/istio/ingressgateway-certs/tls.key}\n", []string{"-f", "-"}, 1},
		"an unknown controller mode exits 2":                   {classless, []string{"-f", "-", "--istio-ingress-controller-mode", "sometimes"}, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCheck(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
		})
	}
}

func TestCheckFixToStdout(t *testing.T) {
	code, out, errOut := runCheck(t, "", "-f", storyDir+"/namespace.yaml", "-f", storyDir+"/virtualservice.yaml", "--fix")
	ns, _ := os.ReadFile(storyDir + "/namespace.yaml")
	vs, _ := os.ReadFile(storyDir + "/virtualservice.yaml")
	if want := string(ns) + "---\n" + string(vs); out != want {
		t.Errorf("--fix prints the inputs as one stream:\n%s\nwant:\n%s", out, want)
	}
	if code != 0 || !strings.Contains(errOut, "checked 2 objects in 2 files: no findings") {
		t.Errorf("exit %d; the report goes to stderr: %q", code, errOut)
	}
}

// A manifest with nothing to change comes out exactly as it went in, final
// newline or not; between inputs the stream adds only what "---" needs.
func TestCheckFixLeavesUnchangedBytesAlone(t *testing.T) {
	dir := t.TempDir()
	noEOL := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain"
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	for path, data := range map[string]string{a: noEOL, b: noEOL + "-b\n"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, out, _ := runCheck(t, "", "-f", a, "--fix"); out != noEOL {
		t.Errorf("one input without a final newline printed as %q, want it byte for byte", out)
	}
	if _, out, _ := runCheck(t, "", "-f", a, "-f", b, "--fix"); out != noEOL+"\n---\n"+noEOL+"-b\n" {
		t.Errorf("two inputs printed as %q", out)
	}
}

func TestCheckFixInPlaceKeepsPermissions(t *testing.T) {
	dir := copyStory(t)
	before, _ := os.ReadFile(filepath.Join(dir, "ingress.yaml"))
	code, out, _ := runCheck(t, "", "-f", dir, "--fix", "--in-place")
	if code != 1 || !strings.Contains(out, "[ingress-in-mesh]") {
		t.Errorf("exit %d; the report goes to stdout with --in-place:\n%s", code, out)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ingress.yaml"))
	if !bytes.Equal(before, after) {
		t.Error("a file without changes was rewritten")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o640 || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s: mode %v (want 0640, no temporary files left)", e.Name(), info.Mode().Perm())
		}
	}
}
