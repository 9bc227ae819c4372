package yamlpatch

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// replace changes the value at tokens to v touching as little as it can: a
// mapping keeps the entries that stay (with their comments), a list of
// scalars keeps the items that stay; everything else is rewritten whole.
func (e *editor) replace(tokens []string, v any) error {
	at, err := e.locate(tokens, false)
	if err != nil {
		return err
	}
	steps := e.plan(tokens, at.node, v)
	for _, s := range steps {
		var err error
		switch s.op {
		case "set":
			var at place
			if at, err = e.locate(s.tokens, false); err == nil {
				err = e.set(at, s.value)
			}
		case "add":
			var at place
			if at, err = e.locate(s.tokens, true); err == nil {
				err = e.insert(at, s.tokens[len(s.tokens)-1], s.value)
			}
		case "remove":
			err = e.removeAt(s.tokens)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type step struct {
	op     string
	tokens []string
	value  any
}

// plan lists the smallest steps that turn node into v. Steps on a list are
// ordered from its end, so every index stays valid while they run.
func (e *editor) plan(tokens []string, n *yaml.Node, v any) []step {
	if equalNode(n, v) {
		return nil
	}
	at := func(tok string) []string { return append(append([]string{}, tokens...), tok) }
	switch vv := v.(type) {
	case map[string]any:
		if n.Kind != yaml.MappingNode || len(vv) == 0 {
			break
		}
		var steps []step
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			seen[k] = true
			if nv, ok := vv[k]; ok {
				steps = append(steps, e.plan(at(k), n.Content[i+1], nv)...)
			} else {
				steps = append(steps, step{op: "remove", tokens: at(k)})
			}
		}
		for _, k := range slices.Sorted(maps.Keys(vv)) {
			if !seen[k] {
				steps = append(steps, step{op: "add", tokens: at(k), value: vv[k]})
			}
		}
		return steps
	case []any:
		if n.Kind != yaml.SequenceNode || len(vv) == 0 {
			break
		}
		if allScalars(n, vv) {
			return seqSteps(tokens, n, vv)
		}
		if len(vv) == len(n.Content) {
			var steps []step
			for i := range vv {
				steps = append(steps, e.plan(at(strconv.Itoa(i)), n.Content[i], vv[i])...)
			}
			return steps
		}
	}
	return []step{{op: "set", tokens: tokens, value: v}}
}

// seqSteps turns one list of scalars into another by removing and inserting
// items, so the items that stay keep their line and comment.
func seqSteps(tokens []string, n *yaml.Node, v []any) []step {
	pairs := lcs(len(n.Content), len(v), func(i, j int) bool { return equalNode(n.Content[i], v[j]) })
	at := func(i int) []string { return append(append([]string{}, tokens...), strconv.Itoa(i)) }
	var steps []step
	// Walk from the end: removals and insertions then never shift an index
	// a later step uses.
	oi, nj := len(n.Content), len(v)
	for k := len(pairs); k >= 0; k-- {
		po, pn := -1, -1
		if k > 0 {
			po, pn = pairs[k-1][0], pairs[k-1][1]
		}
		for j := nj - 1; j > pn; j-- {
			steps = append(steps, step{op: "add", tokens: at(oi), value: v[j]})
		}
		for i := oi - 1; i > po; i-- {
			steps = append(steps, step{op: "remove", tokens: at(i)})
		}
		oi, nj = po, pn
	}
	return steps
}

func allScalars(n *yaml.Node, v []any) bool {
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return false
		}
	}
	for _, x := range v {
		if !isScalarValue(x) {
			return false
		}
	}
	return true
}

// equalNode compares a node with a JSON value.
func equalNode(n *yaml.Node, v any) bool {
	var x any
	if n.Decode(&x) != nil {
		return false
	}
	a, err1 := json.Marshal(x)
	b, err2 := json.Marshal(v)
	return err1 == nil && err2 == nil && sameJSON(a, b)
}
