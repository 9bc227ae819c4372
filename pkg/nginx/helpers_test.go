package nginx

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	crossplane "github.com/nginxinc/nginx-go-crossplane"
	"sigs.k8s.io/yaml"
)

// corpusDir holds third-party nginx configs shared by the project; it lives
// beside the repository (../shared from the repository root) because the
// files' licenses vary and they must not be copied into the repository.
const corpusDir = "../../../shared/corpus/nginx"

const goldenDir = "testdata/golden"

// corpus returns the corpus files by name, or reports loudly and returns
// false when the shared folder is not there.
func corpus(t testing.TB) (map[string]string, bool) {
	t.Helper()
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Logf("!!! NGINX CORPUS MISSING: %s (%v) — the real-world configs from ../shared/corpus/nginx are NOT being checked; clone the repository with shared/ beside it", corpusDir, err)
		return nil, false
	}
	files := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".conf") || strings.HasSuffix(name, ".yaml")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	if len(files) == 0 {
		t.Logf("!!! NGINX CORPUS EMPTY: %s has no .conf or .yaml files", corpusDir)
		return nil, false
	}
	return files, true
}

// requireCorpus skips t loudly when the corpus is missing.
func requireCorpus(t *testing.T) map[string]string {
	t.Helper()
	files, ok := corpus(t)
	if !ok {
		t.Skip("!!! SKIPPED: nginx corpus missing at " + corpusDir + " (expected ../shared beside the repository root)")
	}
	return files
}

// goldenInputs returns the golden inputs by file name.
func goldenInputs(t testing.TB) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no golden inputs in %s", goldenDir)
	}
	files := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = string(b)
	}
	return files
}

// configMap is one set of values rewritten together, as a ConfigMap's data.
type configMap struct {
	name  string
	files map[string]string
}

// configMaps turns every golden input and corpus file into the ConfigMaps a
// webhook would see: a .conf file is one value; a ConfigMap manifest gives
// its data, and its raw text is also tried as a value (it mentions
// proxy_pass but is YAML, so it must never be edited).
func configMaps(t *testing.T, withCorpus bool) []configMap {
	t.Helper()
	var out []configMap
	for name, src := range goldenInputs(t) {
		out = append(out, configMap{name: "golden/" + name, files: map[string]string{name: src}})
	}
	if withCorpus {
		files, _ := corpus(t)
		for name, src := range files {
			out = append(out, configMap{name: "corpus/" + name, files: map[string]string{name: src}})
			if strings.HasSuffix(name, ".yaml") {
				var cm struct {
					Data map[string]string `json:"data"`
				}
				if err := yaml.Unmarshal([]byte(src), &cm); err != nil || len(cm.Data) == 0 {
					t.Fatalf("%s: not a ConfigMap with data: %v", name, err)
				}
				out = append(out, configMap{name: "corpus/" + name + "#data", files: cm.Data})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// goldenAndCorpusInputs returns every single value the tests know, by name.
func goldenAndCorpusInputs(t *testing.T) map[string]string {
	t.Helper()
	all := map[string]string{}
	for _, cm := range configMaps(t, true) {
		for k, v := range cm.files {
			all[cm.name+"/"+k] = v
		}
	}
	return all
}

// crossplaneParses parses src with crossplane the way a snippet must be
// parsed: one file, contexts unchecked (conf.d snippets hold bare server
// blocks), embedded Lua tokenized by crossplane's Lua extension. A panic in
// crossplane counts as a parse failure: v0.4.89 panics on "if ()".
func crossplaneParses(src string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("crossplane panicked: %v", p)
		}
	}()
	lua := &crossplane.Lua{}
	_, err = crossplane.Parse("nginx.conf", &crossplane.ParseOptions{
		SingleFile:                true,
		StopParsingOnError:        true,
		SkipDirectiveContextCheck: true,
		Open: func(string) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(src)), nil
		},
		LexOptions: crossplane.LexOptions{Lexers: []crossplane.RegisterLexer{lua.RegisterLexer()}},
	})
	return err
}

// rewrite runs Rewrite with no deadline and default options.
func rewrite(files map[string]string) Result {
	return Rewrite(context.Background(), files, Options{})
}

// outputOf returns the full value of key after r.
func outputOf(r Result, files map[string]string, key string) string {
	if v, ok := r.Changed[key]; ok {
		return v
	}
	return files[key]
}

// applied returns files with r's changes applied.
func applied(r Result, files map[string]string) map[string]string {
	out := make(map[string]string, len(files))
	for k := range files {
		out[k] = outputOf(r, files, k)
	}
	return out
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
