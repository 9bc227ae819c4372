package nginx

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRewrite feeds arbitrary values to Rewrite, alone and as a pair where
// one includes the other. It must never panic; every value it returns is
// either the input, untouched, or parses, needs no second rewrite and
// differs only by proxy_http_version edits. Each input is also lexed by
// crossplane.Lex, which the package's own lexer must match token for token.
//
//	go test ./pkg/nginx/ -run='^$' -fuzz=FuzzRewrite -fuzztime=30s
func FuzzRewrite(f *testing.F) {
	for _, src := range goldenInputs(f) {
		f.Add(src)
	}
	if files, ok := corpus(f); ok {
		for _, src := range files {
			f.Add(src)
		}
	}
	for _, src := range lexCases() {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if utf8.ValidString(src) {
			// crossplane reads runes through bufio.Scanner; the comparison
			// holds for invalid UTF-8 too, but keep the differential on text
			// a ConfigMap can hold
			sameAsCrossplane(t, "input", src)
		}
		fuzzCheck(t, map[string]string{"nginx.conf": src})
		if i := strings.Index(src, "\n"); i > 0 {
			// split into a main value and an included one
			fuzzCheck(t, map[string]string{"a.conf": src[:i] + "\ninclude b.conf;\n", "b.conf": src[i+1:]})
		}
	})
}

func fuzzCheck(t *testing.T, files map[string]string) {
	t.Helper()
	r := rewrite(files)
	for _, e := range r.Edits {
		if _, ok := r.Changed[e.File]; !ok {
			t.Fatalf("edit %+v of an unchanged value", e)
		}
	}
	if len(r.Changed) == 0 {
		return
	}
	for k, out := range r.Changed {
		in := files[k]
		if out == in {
			t.Fatalf("%s: reported as changed but equal", k)
		}
		if _, err := parse(context.Background(), k, out); err != nil {
			t.Fatalf("%s: output does not parse: %v\n%q", k, err, out)
		}
		if crossplaneParses(in) == nil {
			if err := crossplaneParses(out); err != nil {
				t.Fatalf("%s: crossplane parses the input but not the output: %v\n%q", k, err, out)
			}
		}
		if err := onlyVersionChanges(in, out); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	again := rewrite(applied(r, files))
	if len(again.Edits) > 0 || len(again.Skipped) != len(r.Skipped) {
		t.Fatalf("second rewrite: %+v after %+v", again, r)
	}
}
