package check

import (
	"bytes"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/meshguard/meshguard/pkg/yamlpatch"
)

// fixFile writes the mutating rules' changes into the file's text, document
// by document. A document whose changes cannot be written exactly is left as
// it was and reported; the others are still fixed.
func fixFile(f *File) {
	var out bytes.Buffer
	changed := false
	for _, d := range f.docs {
		text := f.Data[d.start:d.end]
		ops, objs := documentChanges(f, d)
		if len(ops) > 0 {
			fixed, err := yamlpatch.Apply(text, ops)
			if err != nil {
				f.Errors = append(f.Errors, &DocError{File: f.Name, DocumentIndex: d.index, Item: -1, Line: d.content,
					Err: fmt.Errorf("--fix left the document unchanged: %v; make the change by hand", err)})
			} else {
				text, changed = fixed, true
				markFixed(objs)
			}
		}
		out.Write(text)
	}
	if changed {
		f.Fixed = out.Bytes()
	}
}

// documentChanges gathers the changes to the objects of one document, with
// the paths of List items made relative to the document, and the objects
// they change.
func documentChanges(f *File, d *document) ([]jsonpatch.Operation, []*Object) {
	var ops []jsonpatch.Operation
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
	return ops, objs
}

// markFixed marks the changes found on the objects as written.
func markFixed(objs []*Object) {
	for _, o := range objs {
		for i := range o.Findings {
			if o.Findings[i].Severity == Change {
				o.Findings[i].Fixed = true
			}
		}
	}
}
