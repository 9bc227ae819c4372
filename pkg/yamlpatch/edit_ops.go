package yamlpatch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// place is where a JSON pointer lands in the document.
type place struct {
	node    *yaml.Node // nil when adding a member that does not exist yet
	parent  *yaml.Node // the mapping or sequence holding it (nil for the root)
	key     *yaml.Node // the member's key, in a mapping
	index   int        // entry index in a mapping, item index in a sequence
	flow    bool       // the parent is written in flow style (or inside one)
	pindent int        // indentation of the parent block collection, -1 at the root
}

// locate walks a JSON pointer through the document. With missingOK, the last
// token may name a mapping member that does not exist yet, or the end of a
// sequence ("-" or its length).
func (e *editor) locate(tokens []string, missingOK bool) (place, error) {
	at := place{node: e.root, pindent: -1}
	for i, tok := range tokens {
		cur := at.node
		last := i == len(tokens)-1
		next := place{parent: cur, flow: at.flow || isFlow(cur), pindent: indent(cur)}
		if next.flow {
			next.pindent = -1
		}
		where := "/" + strings.Join(tokens[:i+1], "/")
		switch cur.Kind {
		case yaml.MappingNode:
			next.index = -1
			for j := 0; j+1 < len(cur.Content); j += 2 {
				k := cur.Content[j]
				if k.Kind == yaml.ScalarNode && k.Value == tok {
					next.node, next.key, next.index = cur.Content[j+1], k, j/2
				}
				if k.Value == "<<" && k.Tag == "!!merge" {
					return place{}, fmt.Errorf("%s: the mapping uses a YAML merge key (<<), which is not edited through", where)
				}
			}
			if next.node == nil && !(last && missingOK) {
				return place{}, fmt.Errorf("%s does not exist in the document", where)
			}
		case yaml.SequenceNode:
			n := len(cur.Content)
			idx, err := strconv.Atoi(tok)
			if tok == "-" {
				idx, err = n, nil
			}
			if err != nil || idx < 0 || idx > n || (idx == n && !(last && missingOK)) {
				return place{}, fmt.Errorf("%s: no item %q in a list of %d", where, tok, n)
			}
			next.index = idx
			if idx < n {
				next.node = cur.Content[idx]
			}
		case yaml.AliasNode:
			return place{}, fmt.Errorf("%s goes through a YAML alias, which is not edited through", where)
		default:
			return place{}, fmt.Errorf("%s goes through a scalar", where)
		}
		if next.node != nil && (next.node.Anchor != "" || next.node.Kind == yaml.AliasNode) {
			return place{}, fmt.Errorf("%s is a YAML anchor or alias, which is not edited", where)
		}
		at = next
	}
	return at, nil
}

// set replaces the value at a place with v, wholesale.
func (e *editor) set(at place, v any) error {
	n := at.node
	s, end := e.start(n), e.end(n, at.pindent, at.flow)
	switch {
	case at.flow || e.json:
		return e.splice(s, end, e.flowValue(v, e.lineIndentAt(s), e.spansLines(s, end)))
	case isBlockScalar(n):
		if str, ok := v.(string); ok {
			return e.setBlockScalar(at, str)
		}
	}
	if isScalarValue(v) && (n.Kind == yaml.ScalarNode || isFlow(n)) {
		return e.splice(s, end, e.scalar(v, n.Style, false))
	}
	if isFlow(n) {
		return e.splice(s, end, e.flowValue(v, e.lineIndentAt(s), e.spansLines(s, end)))
	}
	switch vv := v.(type) {
	case map[string]any:
		if n.Kind == yaml.MappingNode && len(vv) > 0 {
			return e.splice(s, end, e.blockMap(vv, indent(n)))
		}
	case []any:
		if n.Kind == yaml.SequenceNode && len(vv) > 0 {
			return e.splice(s, end, e.blockSeq(vv, indent(n)))
		}
	}
	// The kind changes: the value starts over right after its key or dash.
	if at.parent == nil {
		return errors.New("the whole document is not replaced, only values inside it")
	}
	if at.parent.Kind == yaml.MappingNode {
		colon := e.afterColon(at.key, at.pindent)
		return e.splice(colon, end, e.afterKey(v, indent(at.parent)))
	}
	return e.splice(s, end, e.item(v, indent(at.parent)+2))
}

// afterColon is the offset just after the ':' that follows a block key.
func (e *editor) afterColon(key *yaml.Node, pindent int) int {
	p := e.end(key, pindent, false)
	for p < len(e.text) && e.text[p] != ':' {
		p++
	}
	return min(p+1, len(e.text))
}

// insert adds a member that does not exist yet: a mapping key (appended) or a
// sequence item (before at.index, or appended).
func (e *editor) insert(at place, name string, v any) error {
	p := at.parent
	if at.flow || isFlow(p) || e.json {
		return e.insertFlow(at, name, v)
	}
	col := indent(p)
	if p.Kind == yaml.MappingNode {
		last := p.Content[len(p.Content)-1]
		pos := e.lineEnd(e.end(last, col, false))
		return e.splice(pos, pos, e.nl+spaces(col)+e.key(name)+":"+e.afterKey(v, col))
	}
	if at.index == len(p.Content) {
		pos := e.lineEnd(e.end(p.Content[len(p.Content)-1], col, false))
		return e.splice(pos, pos, e.nl+spaces(col)+"- "+e.item(v, col+2))
	}
	dash := e.dash(p.Content[at.index])
	if dash < 0 || !e.leadsLine(dash) {
		return fmt.Errorf("cannot insert before an item that does not start its own line")
	}
	ls := e.lineStart(dash)
	return e.splice(ls, ls, spaces(col)+"- "+e.item(v, col+2)+e.nl)
}

// dash finds the "-" introducing a block sequence item.
func (e *editor) dash(item *yaml.Node) int {
	p := e.start(item) - 1
	for p >= 0 && strings.IndexByte(" \t\r\n", e.text[p]) >= 0 {
		p--
	}
	if p >= 0 && e.text[p] == '-' {
		return p
	}
	return -1
}

// remove deletes a member. The last member of a collection leaves an empty
// one behind ({} or []), as JSON patch does.
func (e *editor) remove(at place, parentAt place) error {
	p := at.parent
	if p == nil {
		return errors.New("the whole document is not removed, only values inside it")
	}
	if len(p.Content) == 1 || (p.Kind == yaml.MappingNode && len(p.Content) == 2) {
		empty := any(map[string]any{})
		if p.Kind == yaml.SequenceNode {
			empty = []any{}
		}
		return e.set(parentAt, empty)
	}
	if at.flow || isFlow(p) {
		return e.removeFlow(at)
	}
	first := e.start(at.node)
	if p.Kind == yaml.MappingNode {
		first = e.start(at.key)
	} else {
		first = e.dash(at.node)
	}
	if first < 0 || !e.leadsLine(first) {
		return fmt.Errorf("cannot remove a member that does not start its own line")
	}
	end := e.end(at.node, indent(p), false)
	return e.splice(e.lineStart(first), e.nextLine(end), "")
}

// members lists the start and end of each entry of a flow collection.
func (e *editor) members(p *yaml.Node) (starts, ends []int) {
	step := 1
	if p.Kind == yaml.MappingNode {
		step = 2
	}
	for i := 0; i+step-1 < len(p.Content); i += step {
		starts = append(starts, e.start(p.Content[i]))
		ends = append(ends, e.end(p.Content[i+step-1], -1, true))
	}
	return starts, ends
}

func (e *editor) insertFlow(at place, name string, v any) error {
	p := at.parent
	open := e.skipProperties(e.start(p))
	closing := e.flowEnd(open) - 1
	starts, ends := e.members(p)
	multi := e.spansLines(open, closing+1)
	entry := func(col int) string {
		if p.Kind == yaml.MappingNode {
			return e.flowKey(name) + ": " + e.flowValue(v, col, multi)
		}
		return e.flowValue(v, col, multi)
	}
	if len(starts) == 0 {
		if multi {
			col := e.lineIndentAt(open) + e.unit
			return e.splice(open+1, closing, e.nl+spaces(col)+entry(col)+e.nl+spaces(e.lineIndentAt(closing)))
		}
		return e.splice(open+1, closing, entry(0))
	}
	idx := at.index
	if p.Kind == yaml.MappingNode || idx >= len(starts) {
		last := len(starts) - 1
		col := e.column(starts[last])
		if multi {
			return e.splice(ends[last], ends[last], ","+e.nl+spaces(col)+entry(col))
		}
		return e.splice(ends[last], ends[last], ", "+entry(col))
	}
	col := e.column(starts[idx])
	sep := ", "
	if multi {
		sep = "," + e.nl + spaces(col)
	}
	return e.splice(starts[idx], starts[idx], entry(col)+sep)
}

func (e *editor) removeFlow(at place) error {
	starts, ends := e.members(at.parent)
	i := at.index
	if i < len(starts)-1 {
		return e.splice(starts[i], starts[i+1], "")
	}
	return e.splice(ends[i-1], ends[i], "")
}

// column is the 0-based column of an offset.
func (e *editor) column(off int) int { return len(e.text[e.lineStart(off):off]) }

// lineIndentAt counts the leading spaces of the line holding off.
func (e *editor) lineIndentAt(off int) int {
	ls := e.lineStart(off)
	return len(e.text[ls:e.lineEnd(ls)]) - len(strings.TrimLeft(e.text[ls:e.lineEnd(ls)], " "))
}

func (e *editor) spansLines(from, to int) bool {
	return strings.Contains(e.text[from:to], "\n")
}

func spaces(n int) string { return strings.Repeat(" ", max(n, 0)) }
