package check

import (
	"encoding/json"
	"strings"

	jsonpatch5 "github.com/evanphx/json-patch/v5"

	"github.com/meshguard/meshguard/pkg/policy"
)

// exemptNote finds the note the engine appends to a denial when the object
// asks for an exemption it does not get, so check tells users the same.
func exemptNote(denials, rule, msg string) string {
	const marker = " (the object asks for an exemption"
	i := strings.Index(denials, "["+rule+"] "+msg+marker)
	if i < 0 {
		return ""
	}
	rest := denials[i+len(rule)+3+len(msg):]
	if end := strings.Index(rest, "); "); end >= 0 {
		return rest[:end+1]
	}
	return rest
}

// patchOp is one JSON patch operation as the engine emits it.
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// applyAll applies the engine's whole patch, as the API server does before
// the validating webhooks run.
func applyAll(raw, patch []byte) ([]byte, []patchOp, error) {
	var ops []patchOp
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, nil, err
	}
	p, err := jsonpatch5.DecodePatch(patch)
	if err != nil {
		return nil, nil, err
	}
	out, err := p.Apply(raw)
	return out, ops, err
}

// withoutMutatedAnnotation drops the engine's meshguard.dev/mutated
// annotation: it tells GitOps tools about in-cluster drift, and a fixed
// source manifest has none.
func withoutMutatedAnnotation(ops []patchOp) []patchOp {
	var out []patchOp
	for _, op := range ops {
		if op.Path == "/metadata/annotations/"+strings.ReplaceAll(policy.MutatedAnnotation, "/", "~1") {
			continue
		}
		if op.Path == "/metadata/annotations" && op.Op == "add" {
			var m map[string]string
			if json.Unmarshal(op.Value, &m) == nil && len(m) == 1 && m[policy.MutatedAnnotation] != "" {
				continue
			}
		}
		out = append(out, op)
	}
	return out
}
