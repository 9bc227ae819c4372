package golden

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// labeler is a webhook that adds the label mutated=yes to objects that lack
// it: a minimal idempotent mutation.
func labeler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			t.Error(err)
			return
		}
		var obj struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(in.Request.Object.Raw, &obj); err != nil {
			t.Error(err)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}
		if obj.Metadata.Labels["mutated"] == "" {
			pt := admissionv1.PatchTypeJSONPatch
			resp.PatchType = &pt
			resp.Patch = []byte(`[{"op":"add","path":"/metadata/labels","value":{"mutated":"yes"}}]`)
			if obj.Metadata.Labels != nil {
				resp.Patch = []byte(`[{"op":"add","path":"/metadata/labels/mutated","value":"yes"}]`)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: resp})
	})
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunWritesThenVerifies(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "plain.in.yaml"), "# a comment saying what the case shows\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}\n")
	writeFile(t, filepath.Join(dir, "labelled.in.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: ns, labels: {mutated: already}}\n")
	writeFile(t, filepath.Join(dir, "old.golden.yaml"), "stale: true\n")
	Run(t, labeler(t), dir, true)
	if _, err := os.Stat(filepath.Join(dir, "old.golden.yaml")); !os.IsNotExist(err) {
		t.Errorf("-update must remove stale golden files, stat: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "plain.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "mutated: \"yes\"") {
		t.Errorf("golden file lacks the patched label:\n%s", got)
	}
	Run(t, labeler(t), dir, false)
	if d := Diff(t, []byte(readIn(t, dir, "labelled")), []byte(readGolden(t, dir, "labelled"))); d != "" {
		t.Errorf("an unpatched case must have a golden file equal to its input:\n%s", d)
	}
}

func readIn(t *testing.T, dir, c string) string { return read(t, filepath.Join(dir, c+InSuffix)) }
func readGolden(t *testing.T, dir, c string) string {
	return read(t, filepath.Join(dir, c+GoldenSuffix))
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStaleGoldensAreFound(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.in.yaml", "a.golden.yaml", "b.golden.yaml"} {
		writeFile(t, filepath.Join(dir, f), "x: 1\n")
	}
	stale, err := staleGoldens(dir, Cases(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "b.golden.yaml")}; !slices.Equal(stale, want) {
		t.Errorf("stale = %q, want %q", stale, want)
	}
}

func TestDiff(t *testing.T) {
	tests := map[string]struct {
		a, b string
		want []string // substrings of the diff; nil means equal
	}{
		"key order, quoting, flow style and comments do not matter": {
			a: "# c\nb: [1, 2]\na: 'x'\n", b: "{\"a\": \"x\", \"b\": [1, 2]}"},
		"a changed value shows as a removed and an added line": {
			a: "a: x\nb: 1\n", b: "a: z\nb: 1\n", want: []string{"--- golden", "+++ got", "-a: x", "+a: z"}},
		"a number and a string are different": {
			a: "a: 1\n", b: "a: \"1\"\n", want: []string{"-a: 1", "+a: \"1\""}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := Diff(t, []byte(tc.a), []byte(tc.b))
			if (d == "") != (tc.want == nil) {
				t.Fatalf("diff = %q, want equal: %v", d, tc.want == nil)
			}
			for _, s := range tc.want {
				if !strings.Contains(d, s) {
					t.Errorf("diff lacks %q:\n%s", s, d)
				}
			}
		})
	}
}
