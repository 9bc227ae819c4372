package check

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

func seeds(f *testing.F) {
	for _, dir := range []string{"testdata/fix", "testdata/inputs", "testdata/inputs/bad", "testdata/inputs/mesh"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.*"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
}

// FuzzParse: any input gives documents that tile it (so --fix can write the
// file back from them) and errors that name the file; it never panics.
func FuzzParse(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		file := Parse(Input{Name: "fuzz.yaml", Data: data})
		var joined []byte
		for i, d := range file.docs {
			if d.start > d.end || (i > 0 && file.docs[i-1].end != d.start) {
				t.Fatalf("document ranges do not tile the input: %+v", file.docs)
			}
			joined = append(joined, data[d.start:d.end]...)
		}
		if len(file.docs) > 0 && !bytes.Equal(joined, data) {
			t.Fatalf("documents do not add up to the input")
		}
		for _, e := range file.Errors {
			if !strings.HasPrefix(e.Error(), "fuzz.yaml: ") {
				t.Fatalf("error does not name the file: %v", e)
			}
		}
		for _, o := range file.Objects {
			if o.APIVersion == "" || o.Kind == "" || o.Line < 1 {
				t.Fatalf("object without apiVersion, kind or line: %+v", o)
			}
		}
	})
}

// fuzzOps are the shapes of change the mutating rules make.
var fuzzOps = []string{
	`[{"op":"replace","path":"/data/default.conf","value":"server {\n  proxy_http_version 1.1;\n}\n"}]`,
	`[{"op":"replace","path":"/spec/hosts","value":["metadata.google.internal"]},{"op":"add","path":"/spec/addresses","value":["169.254.169.254"]}]`,
	`[{"op":"add","path":"/spec/endpoints","value":[{"address":"169.254.169.254"}]}]`,
	`[{"op":"remove","path":"/metadata/labels"}]`,
	`[{"op":"add","path":"/spec/hosts/0","value":"a.example.com"}]`,
}

// FuzzFixDocument: on any document, --fix either fails cleanly or writes text
// that reads back as the patched object (fixDocument proves that itself);
// it never panics, and fixing the result again changes nothing.
func FuzzFixDocument(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := sigsyaml.YAMLToJSON(data)
		if err != nil || len(data) > 1<<16 {
			return
		}
		for _, raw := range fuzzOps {
			var ops []patchOp
			if err := json.Unmarshal([]byte(raw), &ops); err != nil {
				t.Fatal(err)
			}
			out, err := fixDocument(data, doc, ops)
			if err != nil {
				continue
			}
			doc2, err := sigsyaml.YAMLToJSON(out)
			if err != nil {
				t.Fatalf("fixed text does not read back: %v\n%s", err, out)
			}
			if bytes.Contains([]byte(raw), []byte(`"add"`)) || strings.Contains(raw, "remove") {
				continue // adding or removing twice is not the same as once
			}
			again, err := fixDocument(out, doc2, ops)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("a second replace changed the text again (%v):\n%s\n---\n%s", err, out, again)
			}
		}
	})
}
