package nginx

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestRewriteProperties checks, for every golden case and every corpus file
// (and the data of every corpus ConfigMap), what must hold whatever the
// input: the output parses (with crossplane and with this package), a second
// Rewrite finds nothing to do, and the line diff holds nothing but inserted
// "proxy_http_version 1.1;" lines and 1.0 -> 1.1 token changes.
func TestRewriteProperties(t *testing.T) {
	_, withCorpus := corpus(t)
	fromCorpus, changed := 0, 0
	for _, cm := range configMaps(t, withCorpus) {
		t.Run(cm.name, func(t *testing.T) {
			checkProperties(t, cm.files)
		})
		if strings.HasPrefix(cm.name, "corpus/") {
			fromCorpus++
			if len(rewrite(cm.files).Changed) > 0 {
				changed++
			}
		}
	}
	// The real-world configs must have been among the ConfigMaps above, and
	// the rewrite must have had work to do on some of them: otherwise the
	// properties held only on the project's own fixtures.
	t.Run("corpus", func(t *testing.T) {
		files := requireCorpus(t)
		conf := 0
		for name := range files {
			if strings.HasSuffix(name, ".conf") {
				conf++
			}
		}
		t.Logf("%d corpus ConfigMaps checked, %d of them rewritten", fromCorpus, changed)
		if fromCorpus < conf {
			t.Errorf("%d corpus ConfigMaps checked, want at least one per .conf file (%d)", fromCorpus, conf)
		}
		if changed == 0 {
			t.Error("no corpus config was rewritten: the properties were never checked on a real edit")
		}
	})
}

// TestCorpusYAMLIsNotEdited: a ConfigMap manifest that mentions proxy_pass is
// YAML, not nginx config, and must be left alone when it is itself a value.
func TestCorpusYAMLIsNotEdited(t *testing.T) {
	files := requireCorpus(t)
	seen := 0
	for name, src := range files {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		seen++
		r := rewrite(map[string]string{name: src})
		if len(r.Changed) > 0 || len(r.Edits) > 0 {
			t.Errorf("%s: YAML text was edited: %+v", name, r.Edits)
		}
	}
	if seen == 0 {
		t.Fatal("no YAML files in the corpus")
	}
}

// checkProperties asserts the invariants of Rewrite on one ConfigMap.
func checkProperties(t *testing.T, files map[string]string) {
	t.Helper()
	r := rewrite(files)
	for k := range r.Changed {
		if _, ok := files[k]; !ok {
			t.Fatalf("changed key %q that does not exist", k)
		}
	}
	for _, e := range r.Edits {
		if _, ok := r.Changed[e.File]; !ok {
			t.Errorf("edit of %s, which is not in Changed", e.File)
		}
		if e.Line < 1 || e.Line > strings.Count(files[e.File], "\n")+1 || e.Reason == "" {
			t.Errorf("bad edit %+v", e)
		}
		if e.Old == "" && e.New != "proxy_http_version 1.1;" || e.Old != "" && !strings.Contains(e.Old, "1.0") {
			t.Errorf("bad edit %+v", e)
		}
	}
	for k, in := range files {
		out := outputOf(r, files, k)
		if out == in {
			continue
		}
		if crossplaneParses(in) == nil {
			if err := crossplaneParses(out); err != nil {
				t.Errorf("%s: output does not parse with crossplane: %v", k, err)
			}
		}
		if _, err := parse(context.Background(), k, out); err != nil {
			t.Errorf("%s: output does not parse: %v", k, err)
		}
		if err := onlyVersionChanges(in, out); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	again := rewrite(applied(r, files))
	if len(again.Edits) > 0 || len(again.Changed) > 0 {
		t.Errorf("second rewrite is not a no-op: %+v", again.Edits)
	}
	if fmt.Sprint(again.Skipped) != fmt.Sprint(r.Skipped) {
		t.Errorf("second rewrite skips %v, first %v", again.Skipped, r.Skipped)
	}
}

// onlyVersionChanges checks that out is in plus inserted
// "proxy_http_version 1.1;" lines (or, inside one-line blocks, inserted
// "proxy_http_version 1.1; " text) and "1.0" tokens turned into "1.1".
func onlyVersionChanges(in, out string) error {
	a, b := strings.Split(in, "\n"), strings.Split(out, "\n")
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i, j = i+1, j+1
		case i < len(a) && j < len(b) && sameButVersion(a[i], b[j]):
			i, j = i+1, j+1
		case j < len(b) && strings.TrimSpace(b[j]) == "proxy_http_version 1.1;":
			j++
		default:
			return fmt.Errorf("unexpected change at input line %d / output line %d:\n- %q\n+ %q", i+1, j+1, at(a, i), at(b, j))
		}
	}
	return nil
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<end>"
}

// sameButVersion reports whether line b is line a with inserted
// "proxy_http_version 1.1; " and "1.0" changed to "1.1".
func sameButVersion(a, b string) bool {
	const ins = "proxy_http_version 1.1; "
	for strings.Count(b, ins) > strings.Count(a, ins) {
		k := 0
		for ; k < len(a) && k < len(b) && a[k] == b[k]; k++ {
		}
		// the first difference may be a version token before the insert
		if k >= 2 && k < len(a) && a[k-2:k+1] == "1.0" && b[k] == '1' {
			a = a[:k] + "1" + a[k+1:]
			continue
		}
		// or fall inside the inserted text, which may share a prefix with what follows it
		from := max(0, k-len(ins)+1)
		p := strings.Index(b[from:], ins)
		if p < 0 || from+p > k {
			return false
		}
		b = b[:from+p] + b[from+p+len(ins):]
	}
	if len(a) != len(b) {
		return false
	}
	for k := 0; k < len(a); k++ {
		if a[k] != b[k] && !(a[k] == '0' && b[k] == '1' && k >= 2 && a[k-2:k] == "1.") {
			return false
		}
	}
	return true
}
