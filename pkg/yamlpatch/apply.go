package yamlpatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"
	"gomodules.xyz/jsonpatch/v2"
	sigsyaml "sigs.k8s.io/yaml"
)

// Error is an operation that could not be written into the text; the
// document is then left as it was.
type Error struct {
	// Index is the operation's position in the patch.
	Index int
	Op    jsonpatch.Operation
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %v", e.Op.Operation, e.Op.Path, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// Apply writes the operations into doc, one YAML or JSON document (its
// "---" and "..." markers and surrounding comments included), and returns
// the new text. The result is proved: it must read back as the document
// with the patch applied by a JSON patch library. An operation that cannot
// be written exactly fails with an *Error naming it, and no text is
// returned. Without operations, doc comes back as it is.
func Apply(doc []byte, ops []jsonpatch.Operation) ([]byte, error) {
	if len(ops) == 0 {
		return doc, nil
	}
	encoded := make([]encodedOp, len(ops))
	for i, op := range ops {
		var err error
		if encoded[i], err = encode(op); err != nil {
			return nil, &Error{Index: i, Op: op, Err: err}
		}
	}
	from, err := sigsyaml.YAMLToJSON(doc)
	if err != nil {
		return nil, &Error{Op: ops[0], Err: fmt.Errorf("the document does not read as YAML: %v", err)}
	}
	out, at, err := write(doc, from, encoded, false)
	if err != nil && at < 0 {
		// The patch as a whole failed: write it again proving each
		// operation, to name the one at fault.
		at = len(ops) - 1
		if _, i, stepErr := write(doc, from, encoded, true); stepErr != nil {
			at, err = i, stepErr
		}
	}
	if err != nil {
		return nil, &Error{Index: at, Op: ops[at], Err: err}
	}
	return out, nil
}

// write makes the operations in the text and proves the result against
// from, the document as JSON: after each operation when stepwise, else
// once at the end. It returns the index of the failing operation, or -1
// when the whole patch failed.
func write(doc, from []byte, ops []encodedOp, stepwise bool) ([]byte, int, error) {
	trimmed := bytes.TrimSpace(doc)
	e, err := newEditor(string(doc), len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['))
	if err == nil {
		err = e.twoWayKey()
	}
	if err != nil {
		return nil, 0, err
	}
	want := from
	if !stepwise {
		if want, err = applyJSON(from, ops); err != nil {
			return nil, -1, err
		}
	}
	for i, op := range ops {
		if stepwise {
			if want, err = applyJSON(want, ops[i:i+1]); err != nil {
				return nil, i, fmt.Errorf("the operation does not apply to the document: %v", err)
			}
		}
		if err := e.apply(op); err != nil {
			return nil, i, err
		}
		if err := e.twoWayKey(); err != nil {
			return nil, i, err
		}
		if stepwise {
			if err := e.proveAgainst(want); err != nil {
				return nil, i, err
			}
		}
	}
	if !stepwise {
		if err := e.proveAgainst(want); err != nil {
			return nil, -1, err
		}
	}
	return []byte(e.text), 0, nil
}

// proveAgainst reads the text back and compares it with want.
func (e *editor) proveAgainst(want []byte) error {
	got, err := sigsyaml.YAMLToJSON([]byte(e.text))
	if err != nil {
		return fmt.Errorf("the rewritten document does not read back: %v", err)
	}
	if !sameJSON(got, want) {
		return fmt.Errorf("the rewritten document does not read back as the patched one")
	}
	return nil
}

// apply writes one operation into the text.
func (e *editor) apply(op encodedOp) error {
	switch op.op {
	case "add":
		at, err := e.locate(op.tokens, true)
		if err != nil {
			return err
		}
		if at.node == nil || at.parent.Kind == yaml.SequenceNode {
			return e.insert(at, op.tokens[len(op.tokens)-1], op.value)
		}
		return e.replace(op.tokens, op.value)
	case "replace":
		return e.replace(op.tokens, op.value)
	}
	return e.removeAt(op.tokens)
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

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
