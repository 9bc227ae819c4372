package check

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of --fix under testdata/fix/golden")

// fixOptions put the fixtures' namespaces in the mesh, as --mesh-namespace would.
var fixNamespaces = map[string]map[string]string{
	"shop":    {"istio-injection": "enabled"},
	"default": {"istio-injection": "enabled"},
}

// fixOnce runs check with --fix on one input and returns the written text
// (the input itself when nothing changed) and the report.
func fixOnce(t *testing.T, name string, data []byte) ([]byte, *Report) {
	t.Helper()
	f := Parse(Input{Name: name, Data: data})
	r := Run(context.Background(), []*File{f}, Options{Rules: testRules, Fix: true, AllowExemptions: true, Namespaces: fixNamespaces})
	if errs := r.Errors(); len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if f.Fixed == nil {
		return data, r
	}
	return f.Fixed, r
}

func TestFixGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "fix", "*.*"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	produced := map[string]bool{}
	for _, in := range inputs {
		name := filepath.Base(in)
		produced[name] = true
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, r := fixOnce(t, name, data)
			if r.ExitCode() != ExitClean {
				t.Errorf("exit code %d after --fix, want 0: %v", r.ExitCode(), brief(r))
			}
			golden := filepath.Join("testdata", "fix", "golden", name)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("--fix output differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
			if bytes.Equal(got, data) {
				t.Errorf("--fix changed nothing; a fixture must exercise a change")
			}
			if bytes.Contains(got, []byte("meshguard.dev/mutated")) {
				t.Errorf("--fix wrote the in-cluster annotation meshguard.dev/mutated")
			}
			for _, line := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "#") && !bytes.Contains(got, []byte(line)) {
					t.Errorf("comment line %q was lost", line)
				}
			}
			again, r2 := fixOnce(t, name, got)
			if !bytes.Equal(again, got) {
				t.Errorf("--fix is not idempotent; second pass:\n%s", again)
			}
			for _, f := range r2.Findings() {
				if f.Severity == Change {
					t.Errorf("second pass still finds a change: %+v", f)
				}
			}
		})
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "fix", "golden", "*"))
	for _, g := range goldens {
		if !produced[filepath.Base(g)] {
			t.Errorf("stale golden file %s: its input testdata/fix/%s is gone; delete it", g, filepath.Base(g))
		}
	}
}

func TestFixLeavesDocumentsItCannotWrite(t *testing.T) {
	data := []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: anchored, namespace: shop}
data:
  default.conf: &conf "location / { proxy_pass http://a; }"
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: fine, namespace: shop}
spec:
  hosts: [metadata.google.internal]
`)
	f := Parse(Input{Name: "anchored.yaml", Data: data})
	r := Run(context.Background(), []*File{f}, Options{Rules: testRules, Fix: true, Namespaces: fixNamespaces})
	errs := r.Errors()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "anchored.yaml: document 0 (line 1): --fix left the document unchanged: replace /data/default.conf: /data/default.conf is a YAML anchor or alias") {
		t.Fatalf("errors: %v", errs)
	}
	if !bytes.HasPrefix(f.Fixed, data[:bytes.Index(data, []byte("---"))]) || !bytes.HasSuffix(f.Fixed, []byte("  hosts: [metadata.google.internal]\n  addresses:\n  - 169.254.169.254\n")) {
		t.Errorf("the first document must stay as it was and the second be fixed:\n%s", f.Fixed)
	}
	if r.ExitCode() != ExitError {
		t.Errorf("exit code %d, want %d", r.ExitCode(), ExitError)
	}
	for _, fd := range r.Findings() {
		if fd.Name == "anchored" && fd.Fixed {
			t.Errorf("a change that was not written is marked fixed")
		}
	}
}
