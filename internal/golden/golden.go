// Package golden tests mutating rules against golden files: each case is an
// object manifest sent through a webhook handler as a CREATE, the returned
// JSON patch applied to it, and the result compared with the expected object.
//
// A directory holds, for each case, <case>.in.yaml (the object as a user
// writes it; a leading YAML comment may say what the case shows) and
// <case>.golden.yaml (the object the API server stores). A case that must not
// be changed has a golden file equal to its input: the golden file is always
// the whole object, so every golden file can be fed to other tools as is.
//
// Results are compared as decoded YAML, never as patch bytes or text, so
// golden files may be formatted freely; a failure prints a diff of the
// normalised documents. Every case is also checked for idempotence: its
// result, sent again as a CREATE, must come back without a patch.
package golden

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/pmezard/go-difflib/difflib"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/internal/reviewtest"
)

// File name suffixes of a case's input and expected output.
const (
	InSuffix     = ".in.yaml"
	GoldenSuffix = ".golden.yaml"
)

// Run tests every case in dir against h, a webhook handler that mutates in
// enforce mode. With update set (the test package's -update flag), golden
// files are rewritten from the results and stale ones are removed instead of
// failing.
func Run(t *testing.T, h http.Handler, dir string, update bool) {
	t.Helper()
	cases := Cases(t, dir)
	if len(cases) == 0 {
		t.Fatalf("no *%s cases in %s", InSuffix, dir)
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			runCase(t, h, filepath.Join(dir, c), update)
		})
	}
	checkStale(t, dir, cases, update)
}

// Cases lists the case names in dir (file names without InSuffix), sorted.
func Cases(t testing.TB, dir string) []string {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join(dir, "*"+InSuffix))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(ins))
	for _, in := range ins {
		names = append(names, strings.TrimSuffix(filepath.Base(in), InSuffix))
	}
	slices.Sort(names)
	return names
}

// Apply sends obj (YAML or JSON) through h as a CREATE and returns the object
// after the response's patch, as JSON, and the response itself.
func Apply(t testing.TB, h http.Handler, obj []byte) ([]byte, *admissionv1.AdmissionResponse) {
	t.Helper()
	orig, err := yaml.YAMLToJSON(obj)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	resp := reviewtest.Send(t, h, reviewtest.Req{Op: admissionv1.Create, Object: orig})
	if !resp.Allowed {
		t.Fatalf("a mutating webhook denied the object: %+v", resp.Result)
	}
	if len(resp.Patch) == 0 {
		return orig, resp
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type = %v, want JSONPatch", resp.PatchType)
	}
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("the response patch does not decode: %v\n%s", err, resp.Patch)
	}
	out, err := patch.Apply(orig)
	if err != nil {
		t.Fatalf("the response patch does not apply: %v\n%s", err, resp.Patch)
	}
	return out, resp
}

func runCase(t *testing.T, h http.Handler, base string, update bool) {
	in := reviewtest.Load(t, base+InSuffix)
	got, _ := Apply(t, h, in)
	goldenPath := base + GoldenSuffix
	if update {
		write(t, goldenPath, got)
	} else {
		want, err := os.ReadFile(goldenPath)
		if os.IsNotExist(err) {
			t.Fatalf("%s is missing: run the test with -update and review the new file", goldenPath)
		} else if err != nil {
			t.Fatal(err)
		}
		if diff := Diff(t, want, got); diff != "" {
			t.Errorf("the mutated object differs from %s (-golden +got):\n%s", goldenPath, diff)
		}
	}
	again, resp := Apply(t, h, got)
	if len(resp.Patch) > 0 {
		t.Errorf("not idempotent: the mutated object was patched again: %s", resp.Patch)
		if diff := Diff(t, got, again); diff != "" {
			t.Logf("second pass (-first +second):\n%s", diff)
		}
	}
}

// Diff compares two YAML or JSON documents semantically and returns a unified
// diff of their normalised YAML, or "" when they are equal.
func Diff(t testing.TB, want, got []byte) string {
	t.Helper()
	w, g := decode(t, "golden", want), decode(t, "result", got)
	if reflect.DeepEqual(w, g) {
		return ""
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(normal(t, w)), B: difflib.SplitLines(normal(t, g)),
		FromFile: "golden", ToFile: "got", Context: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func decode(t testing.TB, what string, doc []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		t.Fatalf("%s does not decode: %v", what, err)
	}
	return v
}

// normal renders a decoded document with sorted keys, so diffs show only
// real differences.
func normal(t testing.TB, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t testing.TB, path string, obj []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(obj, &v); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# %s after the mutating webhook; rewrite with -update, never by hand.\n", filepath.Base(strings.TrimSuffix(path, GoldenSuffix))+InSuffix)
	buf.WriteString(normal(t, v))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkStale fails on golden files whose input is gone: they would keep
// asserting behaviour that nothing tests any more.
func checkStale(t *testing.T, dir string, cases []string, update bool) {
	t.Helper()
	stale, err := staleGoldens(dir, cases)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range stale {
		if !update {
			t.Errorf("stale golden file %s has no %s input: remove it, or run the test with -update", g, InSuffix)
		} else if err := os.Remove(g); err != nil {
			t.Fatal(err)
		}
	}
}

func staleGoldens(dir string, cases []string) ([]string, error) {
	goldens, err := filepath.Glob(filepath.Join(dir, "*"+GoldenSuffix))
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, g := range goldens {
		if !slices.Contains(cases, strings.TrimSuffix(filepath.Base(g), GoldenSuffix)) {
			stale = append(stale, g)
		}
	}
	return stale, nil
}
