package check

import (
	"encoding/json"

	"gomodules.xyz/jsonpatch/v2"
)

// patchOp is one JSON patch operation as --fix writes it, with its value
// as the JSON the webhook's patch carries.
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// fixOps encodes the mutating rules' changes for --fix; a remove carries
// no value, as in the webhook's patch.
func fixOps(ops []jsonpatch.Operation) ([]patchOp, error) {
	var out []patchOp
	for _, op := range ops {
		p := patchOp{Op: op.Operation, Path: op.Path}
		if op.Operation != "remove" {
			v, err := json.Marshal(op.Value)
			if err != nil {
				return nil, err
			}
			p.Value = v
		}
		out = append(out, p)
	}
	return out, nil
}
