package check

import (
	"fmt"
	"path/filepath"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
)

// File is one parsed input and, after Run, what was found in it.
type File struct {
	Input
	// Objects are the file's Kubernetes objects in order, List items expanded.
	Objects []*Object
	// Errors name the documents that could not be read or checked, and the
	// changes --fix could not write.
	Errors []*DocError
	// Fixed is the file with the mutating rules' changes written in; Run sets
	// it only with Options.Fix and only when something changed.
	Fixed []byte

	docs []*document
}

// document is one YAML document (or JSON value) of a file.
type document struct {
	index      int
	start, end int  // byte range in the file; the ranges of a file's documents tile it
	line       int  // file line of the first byte of the range
	content    int  // file line where the object starts (0 for an empty document)
	marker     bool // the range starts with "---"
	source     string
	json       []byte
}

// Object is one Kubernetes object found in the input.
type Object struct {
	File          string
	DocumentIndex int
	// Item is the object's index in a List's items, or -1.
	Item int
	// Line is the file line where the object starts.
	Line       int
	APIVersion string
	Kind       string
	// Namespace is where the object is checked: metadata.namespace, else
	// Options.DefaultNamespace; empty for cluster-scoped kinds. Parse sets it
	// as written, Run as checked.
	Namespace string
	Name      string
	// Source is the chart template that rendered the object, from the
	// "# Source:" comment helm template writes.
	Source string
	// Findings are what the rules said, filled by Run.
	Findings []Finding

	raw   []byte
	file  *File
	doc   *document
	patch []jsonpatch.Operation
}

// JSON is the object as written in the input, as JSON.
func (o *Object) JSON() []byte { return o.raw }

// DocError says which document of which file could not be read or checked.
type DocError struct {
	File string
	// DocumentIndex is -1 when the error concerns the whole file.
	DocumentIndex int
	// Item is the List item, or -1.
	Item int
	// Line is 0 when unknown.
	Line int
	Err  error
}

// Error implements error: "file: document N, item M (line L): what is wrong".
func (e *DocError) Error() string {
	if e.DocumentIndex < 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	where := fmt.Sprintf("document %d", e.DocumentIndex)
	if e.Item >= 0 {
		where += fmt.Sprintf(", item %d", e.Item)
	}
	if e.Line > 0 {
		where += fmt.Sprintf(" (line %d)", e.Line)
	}
	return fmt.Sprintf("%s: %s: %v", e.File, where, e.Err)
}

// Unwrap returns the underlying error.
func (e *DocError) Unwrap() error { return e.Err }

// Parse splits an input into documents and objects. Documents that cannot be
// read are recorded in File.Errors; the others are still checked.
func Parse(in Input) *File {
	f := &File{Input: in}
	if len(in.Data) > MaxFileBytes {
		f.Errors = append(f.Errors, &DocError{File: in.Name, DocumentIndex: -1, Item: -1, Err: errTooLarge()})
		return f
	}
	docs, err := splitJSON(in.Data)
	if err != nil && strings.EqualFold(filepath.Ext(in.Name), ".json") {
		err.File = in.Name
		f.Errors = append(f.Errors, err)
		return f
	}
	if err != nil || docs == nil {
		docs = splitYAML(in.Data)
	}
	f.docs = docs
	// Converting YAML to JSON is most of what check costs, and documents
	// convert independently.
	errs := make([]*DocError, len(docs))
	parallel(len(docs), 0, func(i int) { errs[i] = f.toJSON(docs[i]) })
	for i, d := range docs {
		err := errs[i]
		if err == nil {
			err = f.readDocument(d)
		}
		if err != nil {
			err.File = in.Name
			f.Errors = append(f.Errors, err)
		}
	}
	return f
}
