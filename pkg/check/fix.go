package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/pkg/policy"
)

// fixFile writes the mutating rules' changes into the file's text, document
// by document. A document whose changes cannot be written exactly is left as
// it was and reported; the others are still fixed.
func fixFile(f *File) {
	var out bytes.Buffer
	changed := false
	for _, d := range f.docs {
		text := f.Data[d.start:d.end]
		var ops []patchOp
		var objs []*Object
		for _, o := range f.Objects {
			if o.doc != d || len(o.patch) == 0 {
				continue
			}
			objs = append(objs, o)
			for _, op := range o.patch {
				if o.Item >= 0 {
					op.Path = fmt.Sprintf("/items/%d%s", o.Item, op.Path)
				}
				ops = append(ops, op)
			}
		}
		if len(ops) > 0 {
			fixed, err := fixDocument(text, d.json, ops)
			if err != nil {
				f.Errors = append(f.Errors, &DocError{File: f.Name, DocumentIndex: d.index, Item: -1, Line: d.content,
					Err: fmt.Errorf("--fix left the document unchanged: %v; make the change by hand", err)})
			} else {
				text, changed = fixed, true
				for _, o := range objs {
					for i := range o.Findings {
						if o.Findings[i].Severity == Change {
							o.Findings[i].Fixed = true
						}
					}
				}
			}
		}
		out.Write(text)
	}
	if changed {
		f.Fixed = out.Bytes()
	}
}

// fixDocument applies patch operations to a document's text and proves the
// result: read back, it must equal the document with the patch applied by a
// JSON patch library.
func fixDocument(text, doc []byte, ops []patchOp) ([]byte, error) {
	for _, op := range ops {
		if op.Op != "add" && op.Op != "replace" && op.Op != "remove" {
			return nil, fmt.Errorf("%s %s: --fix supports the JSON patch operations add, replace and remove, not %q", op.Op, op.Path, op.Op)
		}
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch5.DecodePatch(patch)
	if err != nil {
		return nil, err
	}
	want, err := p.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("the change does not apply to the manifest: %v", err)
	}
	trimmed := bytes.TrimSpace(text)
	e, err := newEditor(string(text), len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['))
	if err != nil {
		return nil, err
	}
	for _, op := range ops {
		if err := e.apply(op); err != nil {
			return nil, fmt.Errorf("%s %s: %v", op.Op, op.Path, err)
		}
	}
	got, err := sigsyaml.YAMLToJSON([]byte(e.text))
	if err != nil {
		return nil, fmt.Errorf("the rewritten document does not read back: %v", err)
	}
	if !sameJSON(got, want) {
		return nil, fmt.Errorf("the rewritten document does not read back as the changed object")
	}
	return []byte(e.text), nil
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// apply makes one JSON patch operation. add, replace and remove are the ones
// meshguard's rules emit; anything else fails rather than guess.
func (e *editor) apply(op patchOp) error {
	tokens, err := policy.SplitPointer(op.Path)
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		return fmt.Errorf("--fix does not replace a whole document")
	}
	var v any
	if op.Op == "add" || op.Op == "replace" {
		dec := json.NewDecoder(bytes.NewReader(op.Value))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("the value does not decode: %v", err)
		}
	}
	switch op.Op {
	case "add":
		at, err := e.locate(tokens, true)
		if err != nil {
			return err
		}
		if at.node == nil || at.parent.Kind == yaml.SequenceNode {
			return e.insert(at, tokens[len(tokens)-1], v)
		}
		return e.replace(tokens, v)
	case "replace":
		return e.replace(tokens, v)
	case "remove":
		return e.removeAt(tokens)
	}
	return fmt.Errorf("--fix supports the JSON patch operations add, replace and remove, not %q", op.Op)
}

func (e *editor) removeAt(tokens []string) error {
	at, err := e.locate(tokens, false)
	if err != nil {
		return err
	}
	parent, err := e.locate(tokens[:len(tokens)-1], false)
	if err != nil {
		return err
	}
	return e.remove(at, parent)
}
