package yamlpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
)

// goldenInputs lists the documents of testdata/*/in.*; each case folder
// holds in.yaml (or in.json), ops.json, and either want.yaml (want.json),
// the exact text Apply must return, or error.txt, how its error must start.
func goldenInputs(t testing.TB) []string {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join("testdata", "*", "in.*"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	return ins
}

func readOps(t testing.TB, path string) []jsonpatch.Operation {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ops []jsonpatch.Operation
	if err := json.Unmarshal(b, &ops); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ops
}

func TestGolden(t *testing.T) {
	for _, in := range goldenInputs(t) {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			doc, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			ops := readOps(t, filepath.Join(dir, "ops.json"))
			got, err := Apply(doc, ops)
			if want, readErr := os.ReadFile(filepath.Join(dir, "error.txt")); readErr == nil {
				var opErr *Error
				if !errors.As(err, &opErr) || !strings.HasPrefix(err.Error(), strings.TrimSpace(string(want))) {
					t.Fatalf("error %v, want an *Error starting %q", err, strings.TrimSpace(string(want)))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "want"+filepath.Ext(in)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
