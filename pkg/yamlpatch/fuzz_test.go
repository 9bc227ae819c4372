package yamlpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	sigsyaml "sigs.k8s.io/yaml"
)

// FuzzApply: random operations on any document never panic; when Apply
// returns text, it reads back as the document with the same operations
// applied by a JSON patch library, and independent replaces written twice
// change nothing the second time.
func FuzzApply(f *testing.F) {
	for _, in := range goldenInputs(f) {
		doc, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc, []byte{0, 1, 2, 1, 3, 4, 2, 5, 6})
	}
	f.Fuzz(func(t *testing.T, doc, choices []byte) {
		data, err := sigsyaml.YAMLToJSON(doc)
		if err != nil || len(doc) > 1<<16 {
			return
		}
		ops := randomOps(data, choices)
		out, err := Apply(doc, ops)
		if err != nil {
			if opErr := (*Error)(nil); !errors.As(err, &opErr) {
				t.Fatalf("the error is not an *Error: %v", err)
			}
			return
		}
		if len(ops) == 0 {
			if !bytes.Equal(out, doc) {
				t.Fatalf("no operations, yet the text changed:\n%s", out)
			}
			return
		}
		got, err := sigsyaml.YAMLToJSON(out)
		if err != nil {
			t.Fatalf("the patched text does not read back: %v\n%s", err, out)
		}
		if want := applyPatch(t, data, ops); !sameJSON(got, want) {
			t.Fatalf("the patched text reads %s, the JSON patch library gives %s\n%s", got, want, out)
		}
		if !independentReplaces(ops) {
			return // adding or removing twice is not the same as once
		}
		if again, err := Apply(out, ops); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("a second replace changed the text again (%v):\n%s\n---\n%s", err, out, again)
		}
	})
}

// independentReplaces reports replaces of which none changes what another
// one addresses, so that writing them twice is writing them once.
func independentReplaces(ops []jsonpatch.Operation) bool {
	for i, a := range ops {
		if a.Operation != "replace" {
			return false
		}
		for _, b := range ops[i+1:] {
			if a.Path == b.Path || strings.HasPrefix(a.Path, b.Path+"/") || strings.HasPrefix(b.Path, a.Path+"/") {
				return false
			}
		}
	}
	return true
}

// applyPatch applies the whole patch to a JSON document with the library.
func applyPatch(t *testing.T, doc []byte, ops []jsonpatch.Operation) []byte {
	t.Helper()
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch5.DecodePatch(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("Apply wrote a patch the JSON patch library rejects: %v", err)
	}
	return out
}

// fuzzValues are the values operations write: strings YAML reads as other
// types, text for block scalars, collections empty and not.
var fuzzValues = []any{
	"x", "yes", "8080", "", " lead", "a: b", "# not a comment", "line\nbreaks\n", "no final\nbreak",
	json.Number("7"), true, nil, map[string]any{}, []any{},
	map[string]any{"k": "v", "n": map[string]any{"deep": []any{"a", json.Number("1")}}},
	[]any{"a", map[string]any{"b": "c"}},
}

// randomOps builds up to four operations from choices, three bytes each:
// the kind, the target among the document's own paths, and the value.
func randomOps(doc, choices []byte) []jsonpatch.Operation {
	var root any
	if json.Unmarshal(doc, &root) != nil {
		return nil
	}
	targets := paths(root, "")
	var ops []jsonpatch.Operation
	for i := 0; i+2 < len(choices) && len(ops) < 4 && len(targets) > 0; i += 3 {
		t := targets[int(choices[i+1])%len(targets)]
		v := fuzzValues[int(choices[i+2])%len(fuzzValues)]
		switch choices[i] % 4 {
		case 0:
			ops = append(ops, jsonpatch.NewOperation("replace", t.path, v))
		case 1:
			ops = append(ops, jsonpatch.NewOperation("remove", t.path, nil))
		case 2:
			if t.container != "" {
				ops = append(ops, jsonpatch.NewOperation("add", t.path+t.container, v))
			}
		default:
			ops = append(ops, jsonpatch.NewOperation("add", t.path, v))
		}
	}
	return ops
}

// target is a path in a document; container is what to append to it to
// name a new member ("/-" in a list, "/new" in a mapping), "" for scalars.
type target struct{ path, container string }

var pointerEscapes = strings.NewReplacer("~", "~0", "/", "~1")

// paths lists every path of a document, the root ("") first, mapping keys
// in order so the same input always makes the same operations.
func paths(v any, at string) []target {
	out := []target{{path: at}}
	switch vv := v.(type) {
	case map[string]any:
		out[0].container = "/new"
		for _, k := range slices.Sorted(maps.Keys(vv)) {
			out = append(out, paths(vv[k], at+"/"+pointerEscapes.Replace(k))...)
		}
	case []any:
		out[0].container = "/-"
		for i, c := range vv {
			out = append(out, paths(c, at+"/"+strconv.Itoa(i))...)
		}
	}
	return out
}
