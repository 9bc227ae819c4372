package nginx

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenEdits is how many edits each golden case must need; it keeps a
// careless -update from blessing a no-op case that started editing, or the
// reverse.
func goldenEdits() map[string]int {
	return map[string]int{
		"comments.conf":                 2,
		"crlf.conf":                     2,
		"full-nginx-conf.conf":          1,
		"https-upstream.conf":           0,
		"if-in-location.conf":           2,
		"limit-except.conf":             1,
		"location-1.0-server-1.1.conf":  1,
		"maps-and-named-locations.conf": 1,
		"nested-locations.conf":         2,
		"no-trailing-newline.conf":      1,
		"one-line.conf":                 4,
		"other-upstreams.conf":          0,
		"quoted.conf":                   3,
		"snippet-directives.conf":       1,
		"snippet-locations.conf":        1,
		"snippet-servers.conf":          1,
		"stream.conf":                   0,
		"tabs.conf":                     2,
		"two-proxy-pass.conf":           1,
		"upstream-blocks.conf":          2,
		"variables.conf":                3,
		"version-1.0-http.conf":         1,
		"version-1.0-location.conf":     1,
		"version-1.0-server.conf":       1,
		"version-1.1-http.conf":         0,
	}
}

// TestGolden rewrites each testdata/golden/<case>.conf as a one-value
// ConfigMap and compares the result with <case>.conf.golden byte for byte.
// Run with -update to rewrite the golden files after a deliberate change.
func TestGolden(t *testing.T) {
	inputs := goldenInputs(t)
	goldens, err := filepath.Glob(filepath.Join(goldenDir, "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if _, ok := inputs[strings.TrimSuffix(filepath.Base(g), ".golden")]; ok {
			continue
		}
		if *update {
			if err := os.Remove(g); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("stale golden file %s: its input is gone (run with -update to delete it)", g)
	}
	counts := goldenEdits()
	for name := range counts {
		if _, ok := inputs[name]; !ok {
			t.Errorf("goldenEdits names %s, which has no input file", name)
		}
	}
	for name, src := range inputs {
		t.Run(strings.TrimSuffix(name, ".conf"), func(t *testing.T) {
			r := rewrite(map[string]string{name: src})
			if len(r.Skipped) > 0 {
				t.Fatalf("skipped: %+v", r.Skipped)
			}
			want, ok := counts[name]
			if !ok {
				t.Errorf("add %s to goldenEdits", name)
			}
			if len(r.Edits) != want {
				t.Errorf("%d edits, want %d: %+v", len(r.Edits), want, r.Edits)
			}
			got := outputOf(r, map[string]string{name: src}, name)
			path := filepath.Join(goldenDir, name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("missing golden file (run go test ./pkg/nginx/ -run TestGolden -update): %v", err)
			}
			if got != string(b) {
				t.Errorf("output differs from %s (run with -update after checking the change):\n%s", path, lineDiff(string(b), got))
			}
		})
	}
}

// lineDiff shows the lines of want and got from the first difference on.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	end := func(s []string) []string { return s[i:min(len(s), i+6)] }
	return "from line " + strconv.Itoa(i+1) + ":\nwant: " + strings.Join(end(w), "\nwant: ") + "\ngot:  " + strings.Join(end(g), "\ngot:  ")
}
