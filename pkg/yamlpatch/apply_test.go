package yamlpatch

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
)

// applyText applies JSON patch operations (a JSON array) to a document's text.
func applyText(t *testing.T, text, ops string) (string, error) {
	t.Helper()
	var parsed []jsonpatch.Operation
	if err := json.Unmarshal([]byte(ops), &parsed); err != nil {
		t.Fatalf("ops: %v", err)
	}
	out, err := Apply([]byte(text), parsed)
	return string(out), err
}

func TestApply(t *testing.T) {
	tests := map[string]struct {
		text, ops, want, err string
	}{
		"a replaced scalar keeps its line comment": {
			text: "a: b # why\nc: d\n", ops: `[{"op":"replace","path":"/a","value":"x"}]`,
			want: "a: x # why\nc: d\n"},
		"a replaced scalar keeps double quotes": {
			text: "a: \"b\"\n", ops: `[{"op":"replace","path":"/a","value":"x\"y"}]`,
			want: "a: \"x\\\"y\"\n"},
		"a replaced scalar keeps single quotes": {
			text: "a: 'b'\n", ops: `[{"op":"replace","path":"/a","value":"x'y"}]`,
			want: "a: 'x''y'\n"},
		"a string that would read as something else is quoted": {
			text: "a: b\nc: d\ne: f\n", ops: `[{"op":"replace","path":"/a","value":"yes"},{"op":"replace","path":"/c","value":"1.0"},{"op":"replace","path":"/e","value":"*.example.com"}]`,
			want: "a: \"yes\"\nc: \"1.0\"\ne: \"*.example.com\"\n"},
		"an added key goes after the mapping's last entry, in its indentation": {
			text: "spec:\n    a: 1 # one\n    # about z\nz: 2\n", ops: `[{"op":"add","path":"/spec/b","value":"c"}]`,
			want: "spec:\n    a: 1 # one\n    b: c\n    # about z\nz: 2\n"},
		"an added list follows the document's list indentation": {
			text: "spec:\n  hosts:\n    - a\n", ops: `[{"op":"add","path":"/spec/addresses","value":["10.0.0.1"]}]`,
			want: "spec:\n  hosts:\n    - a\n  addresses:\n    - 10.0.0.1\n"},
		"an added list of mappings is written in block style": {
			text: "spec:\n  hosts:\n  - a\n", ops: `[{"op":"add","path":"/spec/endpoints","value":[{"address":"169.254.169.254","ports":{"http":80}}]}]`,
			want: "spec:\n  hosts:\n  - a\n  endpoints:\n  - address: 169.254.169.254\n    ports:\n      http: 80\n"},
		"an item is inserted before the one at its index, or appended with -": {
			text: "l:\n- a\n- c\n", ops: `[{"op":"add","path":"/l/1","value":"b"},{"op":"add","path":"/l/-","value":"d"}]`,
			want: "l:\n- a\n- b\n- c\n- d\n"},
		"a removed key takes its line and its line comment": {
			text: "a: 1\nb: 2 # gone\nc: 3\n", ops: `[{"op":"remove","path":"/b"}]`,
			want: "a: 1\nc: 3\n"},
		"removing the last item leaves an empty list": {
			text: "l:\n- a\nk: v\n", ops: `[{"op":"remove","path":"/l/0"}]`,
			want: "l: []\nk: v\n"},
		"flow lists lose an item with its comma": {
			text: "l: [a, b, c]\nm: [a, b, c]\n", ops: `[{"op":"remove","path":"/l/1"},{"op":"remove","path":"/m/2"}]`,
			want: "l: [a, c]\nm: [a, b]\n"},
		"a flow mapping gains a member": {
			text: "m: {a: 1}\n", ops: `[{"op":"add","path":"/m/b","value":"x"}]`,
			want: "m: {a: 1, b: x}\n"},
		"a replaced mapping keeps the entries that stay, with their comments": {
			text: "m:\n  a: 1 # one\n  b: 2\n  c: 3\n", ops: `[{"op":"replace","path":"/m","value":{"a":1,"c":4,"d":5}}]`,
			want: "m:\n  a: 1 # one\n  c: 4\n  d: 5\n"},
		"a replaced list of scalars keeps the items that stay, with their comments": {
			text: "hosts:\n- \"*.googleapis.com\" # wildcard\n- 169.254.169.254 # the IP\n- \"metadata.google.internal\" # too\n",
			ops:  `[{"op":"replace","path":"/hosts","value":["*.googleapis.com","metadata.google.internal","new.example.com"]}]`,
			want: "hosts:\n- \"*.googleapis.com\" # wildcard\n- \"metadata.google.internal\" # too\n- new.example.com\n"},
		"a value changing kind starts over after its key": {
			text: "a: b\nc: d\n", ops: `[{"op":"replace","path":"/a","value":["x","y"]}]`,
			want: "a:\n- x\n- \"y\"\nc: d\n"}, // y is a boolean to kubectl's YAML 1.1
		"JSON stays JSON": {
			text: "{\n  \"a\": {\"b\": 1},\n  \"l\": [\n    \"x\"\n  ]\n}\n", ops: `[{"op":"add","path":"/a/c","value":"x"},{"op":"add","path":"/l/-","value":{"k":"v"}}]`,
			want: "{\n  \"a\": {\"b\": 1, \"c\": \"x\"},\n  \"l\": [\n    \"x\",\n    {\n      \"k\": \"v\"\n    }\n  ]\n}\n"},
		"a literal block keeps every unchanged line byte for byte": {
			text: "data:\n  conf: |\n    a  \n      \n    b\n  next: 1\n", ops: `[{"op":"replace","path":"/data/conf","value":"a  \n  \nx\nb\n"}]`,
			want: "data:\n  conf: |\n    a  \n      \n    x\n    b\n  next: 1\n"},
		"a literal block with an indentation indicator keeps it": {
			text: "data:\n  conf: |2\n      indented\n    b\n", ops: `[{"op":"replace","path":"/data/conf","value":"  indented\nb\nc\n"}]`,
			want: "data:\n  conf: |2\n      indented\n    b\n    c\n"},
		"a literal losing its final line break changes its chomping indicator": {
			text: "a: |\n  x\n  y\n", ops: `[{"op":"replace","path":"/a","value":"x\ny"}]`,
			want: "a: |-\n  x\n  y\n"},
		"a folded block becomes a literal": {
			text: "a: >\n  x\n  y\nb: 1\n", ops: `[{"op":"replace","path":"/a","value":"x\ny\n"}]`,
			want: "a: |\n  x\n  y\nb: 1\n"},
		"text a literal cannot hold becomes a double-quoted string": {
			text: "a: |\n  x\n", ops: `[{"op":"replace","path":"/a","value":"x\r\ny\n"}]`,
			want: "a: \"x\\r\\ny\\n\"\n"},
		"an operation it does not support fails": {
			text: "a: 1\nb: 2\n", ops: `[{"op":"move","from":"/a","path":"/c"}]`,
			err: `move /c: only the JSON patch operations add, replace and remove are written, not "move"`},
		"a value behind a YAML anchor is not edited": {
			text: "a: &x 1\nb: *x\n", ops: `[{"op":"replace","path":"/a","value":2}]`,
			err: "replace /a: /a is a YAML anchor or alias"},
		"a path that does not exist fails": {
			text: "a: 1\n", ops: `[{"op":"replace","path":"/b/c","value":2}]`,
			err: "replace /b/c: the operation does not apply to the document"},
		"a key added where YAML 1.1 reads an existing one the same fails": {
			text: "n: 1\n", ops: `[{"op":"add","path":"/false","value":2}]`,
			err: `add /false: line 2: the keys "n" and "false" of one mapping both read as "false" in YAML 1.1`},
		"a document whose keys read two ways is not patched": {
			text: "on: 1\n\"true\": 2\nx: 3\n", ops: `[{"op":"replace","path":"/x","value":4}]`,
			err: `replace /x: line 2: the keys "on" and "true" of one mapping both read as "true" in YAML 1.1`},
		"line breaks the YAML parser counts differently are not edited": {
			text: "a: 1\rb: 2\n", ops: `[{"op":"replace","path":"/a","value":2}]`,
			err: "replace /a: the document has line breaks other than"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := applyText(t, tc.text, tc.ops)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestApplyWithoutOperationsReturnsTheDocument(t *testing.T) {
	for _, doc := range []string{"a: b # no final line break", "not: [yaml", ""} {
		got, err := Apply([]byte(doc), nil)
		if err != nil || string(got) != doc {
			t.Errorf("Apply(%q, nil) = %q, %v", doc, got, err)
		}
	}
}

func TestErrorNamesTheOperation(t *testing.T) {
	ops := []jsonpatch.Operation{
		jsonpatch.NewOperation("replace", "/a", 2),
		jsonpatch.NewOperation("remove", "/missing", nil),
	}
	_, err := Apply([]byte("a: 1\n"), ops)
	var opErr *Error
	if !errors.As(err, &opErr) || opErr.Index != 1 || opErr.Op.Path != "/missing" {
		t.Fatalf("error %#v, want an *Error for operation 1", err)
	}
}
