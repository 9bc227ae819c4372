package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

func runConvert(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = convertCmd("webhook", args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestConvertUsage(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"no cluster":            {[]string{"--kubeconfig", "does-not-exist"}, "no cluster to read"},
		"-A and -n":             {[]string{"-A", "-n", "shop"}, "-A and -n: pass one of them"},
		"-A and names":          {[]string{"-A", "web"}, "-A with Ingress names (web)"},
		"files and names":       {[]string{"-f", storyDir, "web"}, "-f reads files; --kubeconfig"},
		"files and a context":   {[]string{"-f", storyDir, "--context", "prod"}, "-f reads files; --kubeconfig"},
		"an unknown target":     {[]string{"-f", storyDir, "--to", "nginx"}, `--to: unknown target "nginx": use gateway-api or istio`},
		"a bad report format":   {[]string{"-f", storyDir, "--report-format", "xml"}, `--report-format "xml": use text or json`},
		"a bad gateway name":    {[]string{"-f", storyDir, "--gateway", "Edge_1"}, `--gateway "Edge_1"`},
		"a bad static IP":       {[]string{"-f", storyDir, "--static-ip", "ip=not-an-ip"}, `"not-an-ip" is not an IP address`},
		"a static IP with no =": {[]string{"-f", storyDir, "--static-ip", "ip"}, "use NAME=IP"},
		"a missing path":        {[]string{"-f", "does-not-exist"}, "-f does-not-exist: no such file or directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runConvert(t, "", tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

func TestConvertHelpAndMainUsage(t *testing.T) {
	code, _, errOut := runConvert(t, "", "--help")
	for _, want := range []string{"Exit codes:", "0  everything was carried", "1  something was approximated", "2  usage error", "--gateway", "--static-ip", "--report-format"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	var out bytes.Buffer
	if run([]string{"help"}, &out, &out); !strings.Contains(out.String(), "webhook convert -f PATH") {
		t.Errorf("main usage does not list convert:\n%s", out.String())
	}
	out.Reset()
	// Through main: the story's Ingress as Istio objects; the static IP and
	// the Secret's namespace are not carried, so exit 1.
	if code := run([]string{"convert", "--to", "istio", "-f", storyDir}, &out, &out); code != 1 ||
		!strings.Contains(out.String(), "kind: VirtualService") || !strings.Contains(out.String(), "credentialName: my-app-tls") {
		t.Errorf("webhook convert --to istio through main: exit %d, want 1 and the Istio objects:\n%s", code, out.String())
	}
}

func TestConvertExitCodesAndOutput(t *testing.T) {
	const carried = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: shop}\nspec:\n  rules:\n  - host: shop.example.com\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n"
	tests := map[string]struct {
		stdin string
		args  []string
		code  int
		out   string // in stdout
		err   string // in stderr
	}{
		"the story's Ingress: the static IP is not carried": {"", []string{"-f", storyDir + "/ingress.yaml"}, 1, "kind: HTTPRoute", "kubernetes.io/ingress.global-static-ip-name: not-carried"},
		"--static-ip carries it":                            {"", []string{"-f", storyDir + "/ingress.yaml", "--static-ip", "gad-my-app=203.0.113.10"}, 0, "value: 203.0.113.10", "4 items carried, 0 approximated, 0 not carried"},
		"a folder, recursively, other kinds skipped":        {"", []string{"-f", storyDir, "--static-ip", "gad-my-app=203.0.113.10"}, 0, "name: dev.my-app.com", ""},
		"stdin":                           {carried, []string{"-f", "-"}, 0, "name: shop.example.com", "0 items carried"},
		"--gateway NAME.NS":               {carried, []string{"-f", "-", "--gateway", "edge.infra"}, 0, "namespace: infra", ""},
		"no Ingress at all":               {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", []string{"-f", "-"}, 0, "", "the input holds no Ingress"},
		"broken YAML names the document":  {carried + "---\napiVersion: v1\nkind: [\n", []string{"-f", "-"}, 2, "", "<stdin>: document 1 (line 11): invalid YAML: yaml: line 12: did not find expected node content"},
		"a document without kind":         {"metadata: {name: x}\n", []string{"-f", "-"}, 2, "", "<stdin>: document 0 (line 1): the object has no apiVersion or no kind"},
		"an Ingress that does not decode": {"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec: {rules: 5}\n", []string{"-f", "-"}, 2, "", "Ingress does not decode"},
		"a List":                          {`{"apiVersion":"v1","kind":"List","items":[` + mustJSON(t, carried) + `]}`, []string{"-f", "-"}, 0, "kind: Gateway", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runConvert(t, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Errorf("exit %d, want %d; stdout wants %q, stderr wants %q\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.out, tc.err, out, errOut)
			}
		})
	}
}

func TestConvertJSONReport(t *testing.T) {
	code, _, errOut := runConvert(t, "", "-f", storyDir+"/ingress.yaml", "--report-format", "json")
	var rep struct {
		Entries []struct{ Ingress, What, Outcome, Message string }
	}
	if err := json.Unmarshal([]byte(errOut), &rep); err != nil {
		t.Fatalf("stderr is not the JSON report: %v\n%s", err, errOut)
	}
	found := false
	for _, e := range rep.Entries {
		found = found || (e.Ingress == "my-app/my-app" && e.What == "kubernetes.io/ingress.global-static-ip-name" && e.Outcome == "not-carried")
	}
	if code != 1 || !found {
		t.Errorf("exit %d, entries %+v", code, rep.Entries)
	}
}

// The output of convert is what docs/convert.md shows for the story.
func TestConvertDocsShowTheStory(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "convert.md"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runConvert(t, "", "-f", storyDir+"/ingress.yaml")
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(string(doc), out) {
		t.Errorf("docs/convert.md does not show the objects convert writes for the story's Ingress:\n%s", out)
	}
	if !strings.Contains(string(doc), strings.ReplaceAll(errOut, storyDir, "examples/story")) {
		t.Errorf("docs/convert.md does not show the report convert writes for the story's Ingress:\n%s", errOut)
	}
}

func mustJSON(t *testing.T, yamlText string) string {
	t.Helper()
	j, err := sigsyaml.YAMLToJSON([]byte(yamlText))
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}
