package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsyaml "sigs.k8s.io/yaml"
)

// toJSON converts a YAML document with the YAML library kubectl uses, so
// values read as they would when applied (yes, on and the like are booleans).
func (f *File) toJSON(d *document) *DocError {
	if d.json != nil || d.content == 0 {
		return nil
	}
	j, err := sigsyaml.YAMLToJSON(f.Data[d.start:d.end])
	if err != nil {
		// Line numbers of the YAML library count from the document's start.
		msg := shiftLines(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "), d.line-1)
		return &DocError{DocumentIndex: d.index, Item: -1, Line: d.content, Err: fmt.Errorf("invalid YAML: %s", msg)}
	}
	d.json = j
	return nil
}

// shiftLines adds by to every "line N" of a message.
func shiftLines(msg string, by int) string {
	var b strings.Builder
	for {
		i := strings.Index(msg, "line ")
		if i < 0 {
			return b.String() + msg
		}
		j := i + 5
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(msg[i+5 : j])
		if err != nil {
			b.WriteString(msg[:j])
		} else {
			b.WriteString(msg[:i] + "line " + strconv.Itoa(n+by))
		}
		msg = msg[j:]
	}
}

// readDocument lists the objects of one converted document.
func (f *File) readDocument(d *document) *DocError {
	fail := func(item, line int, format string, args ...any) *DocError {
		return &DocError{DocumentIndex: d.index, Item: item, Line: line, Err: fmt.Errorf(format, args...)}
	}
	text := f.Data[d.start:d.end]
	if d.json == nil {
		return nil
	}
	if t := bytes.TrimSpace(d.json); bytes.Equal(t, []byte("null")) || len(t) == 0 {
		return nil
	}
	obj, err := readObject(d.json)
	if err != nil {
		return fail(-1, d.content, "%v", err)
	}
	if !isList(obj) {
		f.Objects = append(f.Objects, obj.at(f, d, -1, d.content))
		return nil
	}
	var items []json.RawMessage
	if len(obj.Items) > 0 {
		if err := json.Unmarshal(obj.Items, &items); err != nil {
			return fail(-1, d.content, "the items of a %s are not a list of objects: %v", obj.Kind, err)
		}
	}
	lines := itemLines(text, d.line)
	for i, raw := range items {
		line := d.content
		if i < len(lines) {
			line = lines[i]
		}
		item, err := readItem(raw, obj)
		if err != nil {
			return fail(i, line, "%v", err)
		}
		f.Objects = append(f.Objects, item.at(f, d, i, line))
	}
	return nil
}

// head is the part of an object check reads itself; rules decode the rest.
type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	// Items stays raw: only lists need it to be an array, and other kinds
	// may have a field of that name of any shape.
	Items json.RawMessage `json:"items"`
	raw   []byte
}

func readObject(raw []byte) (*head, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("the document is not a mapping, so not a Kubernetes object; every document needs apiVersion, kind and metadata")
	}
	h := &head{}
	if err := json.Unmarshal(raw, h); err != nil {
		return nil, fmt.Errorf("the object does not decode: %v", err)
	}
	if h.APIVersion == "" || h.Kind == "" {
		return nil, fmt.Errorf("the object has no apiVersion or no kind (apiVersion %q, kind %q); every Kubernetes object needs both", h.APIVersion, h.Kind)
	}
	if _, err := schema.ParseGroupVersion(h.APIVersion); err != nil {
		return nil, fmt.Errorf("apiVersion %q is not GROUP/VERSION or VERSION", h.APIVersion)
	}
	h.raw = raw
	return h, nil
}

// isList recognises kind List and typed lists (ConfigMapList, …) with items
// (other kinds may have a field of that name).
func isList(h *head) bool {
	return h.Kind == "List" || (strings.HasSuffix(h.Kind, "List") && bytes.HasPrefix(bytes.TrimSpace(h.Items), []byte("[")))
}

// readItem reads one List item.
func readItem(raw json.RawMessage, list *head) (*head, error) {
	raw, err := listItem(raw, list.APIVersion, list.Kind)
	if err != nil {
		return nil, err
	}
	return readObject(raw)
}

// listItem returns the object of one item of a list of apiVersion and kind.
// Items of typed lists may omit apiVersion and kind (the API server leaves
// them out); they are implied by the list and filled in. An item that is
// not a mapping is an error.
func listItem(raw json.RawMessage, apiVersion, kind string) (json.RawMessage, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("the item is %s, not a mapping, so not a Kubernetes object", jsonShape(t))
	}
	if kind == "List" {
		return raw, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err == nil && m["apiVersion"] == nil && m["kind"] == nil {
		m["apiVersion"], m["kind"] = apiVersion, strings.TrimSuffix(kind, "List")
		raw, _ = json.Marshal(m)
	}
	return raw, nil
}

// jsonShape names what a JSON value that is not an object is.
func jsonShape(v []byte) string {
	switch {
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
		return "empty"
	case v[0] == '[':
		return "a list"
	}
	return "a scalar"
}

func (h *head) at(f *File, d *document, item, line int) *Object {
	return &Object{File: f.Name, file: f, DocumentIndex: d.index, Item: item, Line: line,
		APIVersion: h.APIVersion, Kind: h.Kind, Namespace: h.Metadata.Namespace, Name: h.Metadata.Name,
		Source: d.source, raw: h.raw, doc: d}
}

// itemLines finds the file line of each List item; it is best effort, as
// lines only decorate reports.
func itemLines(text []byte, first int) []int {
	var root yaml.Node
	if yaml.Unmarshal(text, &root) != nil || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; m.Kind == yaml.MappingNode && i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "items" {
			continue
		}
		var lines []int
		for _, it := range m.Content[i+1].Content {
			lines = append(lines, it.Line+first-1)
		}
		return lines
	}
	return nil
}
