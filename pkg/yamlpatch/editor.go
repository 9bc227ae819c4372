package yamlpatch

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// editor changes one YAML (or JSON) document by splicing its text: the YAML
// AST says where each node starts, the scanners below say where it ends, and
// only the bytes of the values that change are rewritten. Comments, key
// order, quoting, indentation and blank lines elsewhere stay as they were.
// After every splice the text is parsed again, so each edit sees fresh
// positions.
type editor struct {
	text string
	json bool   // a JSON document: every new value is written as JSON
	nl   string // the document's line break
	// unit is the indentation step and seqOffset how far a block sequence is
	// indented under its key (0 for "key:\n- a"), both as the document has them.
	unit, seqOffset int
	root            *yaml.Node
	lines           []int // byte offset of each line start
	// keyReadings caches how YAML 1.1 reads plain mapping keys, by identity.
	keyReadings map[string]string
}

func newEditor(text string, isJSON bool) (*editor, error) {
	// The YAML parser also counts these as line breaks; positions would not
	// match lines, so such documents are left alone.
	if strings.ContainsAny(strings.ReplaceAll(text, "\r\n", ""), "\r\u0085\u2028\u2029") {
		return nil, errors.New("the document has line breaks other than \\n and \\r\\n (a lone \\r, NEL, LS or PS), which are not edited")
	}
	e := &editor{text: text, json: isJSON, nl: "\n", unit: 2}
	if strings.Contains(text, "\r\n") {
		e.nl = "\r\n"
	}
	if err := e.parse(); err != nil {
		return nil, err
	}
	e.detectLayout(e.root)
	return e, nil
}

func (e *editor) parse() error {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(e.text), &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return errors.New("the document is empty")
	}
	e.root = doc.Content[0]
	e.lines = e.lines[:0]
	e.lines = append(e.lines, 0)
	for i := 0; i < len(e.text); i++ {
		if e.text[i] == '\n' {
			e.lines = append(e.lines, i+1)
		}
	}
	return nil
}

// splice replaces text[from:to] and parses the result again.
func (e *editor) splice(from, to int, with string) error {
	e.text = e.text[:from] + with + e.text[to:]
	if err := e.parse(); err != nil {
		return fmt.Errorf("the edit made the document unreadable (%v)", err)
	}
	return nil
}

// detectLayout learns the indentation step and the sequence indentation
// from the first nested collections it meets, so new text looks like old.
func (e *editor) detectLayout(n *yaml.Node) {
	unit, seq := 0, -1
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Line > k.Line && v.Column > k.Column && v.Kind == yaml.MappingNode && unit == 0 {
					unit = v.Column - k.Column
				}
				if v.Line > k.Line && v.Kind == yaml.SequenceNode && v.Style&yaml.FlowStyle == 0 && seq < 0 {
					seq = v.Column - k.Column
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	if unit > 0 {
		e.unit = unit
	}
	if seq >= 0 {
		e.seqOffset = seq
	}
}

// offset turns a node's line and column (1-based, counting characters) into
// a byte offset.
func (e *editor) offset(line, col int) int {
	off := e.lines[min(max(line, 1), len(e.lines))-1]
	for c := 1; c < col && off < len(e.text); c++ {
		_, size := utf8.DecodeRuneInString(e.text[off:])
		off += size
	}
	return off
}

func (e *editor) start(n *yaml.Node) int { return e.offset(n.Line, n.Column) }

// indent is the column (0-based) where a block collection's entries start.
func indent(n *yaml.Node) int { return n.Column - 1 }

func isFlow(n *yaml.Node) bool { return n.Style&yaml.FlowStyle != 0 }

func isBlockScalar(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
}
