package check

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
