package yamlpatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
)

// encodedOp is an operation with its pointer split and its value as JSON:
// numbers stay json.Number, so they are written as the patch has them.
type encodedOp struct {
	op     string
	path   string
	tokens []string
	raw    json.RawMessage // the value as JSON; nil for a remove
	value  any
}

// encode checks that an operation is one Apply writes and decodes its value.
func encode(op jsonpatch.Operation) (encodedOp, error) {
	switch op.Operation {
	case "add", "replace", "remove":
	default:
		return encodedOp{}, fmt.Errorf("only the JSON patch operations add, replace and remove are written, not %q", op.Operation)
	}
	tokens, err := splitPointer(op.Path)
	if err != nil {
		return encodedOp{}, err
	}
	if len(tokens) == 0 {
		return encodedOp{}, fmt.Errorf("the whole document is not replaced or removed, only values inside it")
	}
	out := encodedOp{op: op.Operation, path: op.Path, tokens: tokens}
	if op.Operation == "remove" {
		return out, nil
	}
	if out.raw, err = json.Marshal(op.Value); err != nil {
		return encodedOp{}, fmt.Errorf("the value does not encode as JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out.raw))
	dec.UseNumber()
	if err := dec.Decode(&out.value); err != nil {
		return encodedOp{}, fmt.Errorf("the value does not decode: %v", err)
	}
	return out, nil
}

// applyJSON applies operations to a JSON document with a JSON patch
// library: what the text must read back as.
func applyJSON(doc []byte, ops []encodedOp) ([]byte, error) {
	patch := make([]map[string]any, len(ops))
	for i, op := range ops {
		patch[i] = map[string]any{"op": op.op, "path": op.path}
		if op.raw != nil {
			patch[i]["value"] = op.raw
		}
	}
	b, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch5.DecodePatch(b)
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}

// pointerUnescapes reads "~1" as "/" and "~0" as "~" (RFC 6901).
var pointerUnescapes = strings.NewReplacer("~1", "/", "~0", "~")

// splitPointer returns the unescaped tokens of a JSON pointer; "" is the
// whole document.
func splitPointer(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return nil, fmt.Errorf("%q is not a JSON pointer", path)
	}
	tokens := strings.Split(rest, "/")
	for i := range tokens {
		tokens[i] = pointerUnescapes.Replace(tokens[i])
	}
	return tokens, nil
}
