package yamlpatch

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// skipProperties steps over a node's tag and anchor, which its position
// includes.
func (e *editor) skipProperties(p int) int {
	for p < len(e.text) && (e.text[p] == '!' || e.text[p] == '&') {
		for p < len(e.text) && !strings.ContainsRune(" \t\r\n", rune(e.text[p])) {
			p++
		}
		for p < len(e.text) && (e.text[p] == ' ' || e.text[p] == '\t') {
			p++
		}
	}
	return p
}

// end is the offset just after a node's text. parent is the indentation of
// the block collection holding it (-1 for the root); flow is true inside
// brackets.
func (e *editor) end(n *yaml.Node, parent int, flow bool) int {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		if isFlow(n) {
			return e.flowEnd(e.skipProperties(e.start(n)))
		}
		if len(n.Content) == 0 {
			return e.start(n)
		}
		return e.end(n.Content[len(n.Content)-1], indent(n), false)
	case yaml.AliasNode:
		return e.start(n) + 1 + len(n.Value)
	}
	p := e.skipProperties(e.start(n))
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		for i := p + 1; i < len(e.text); i++ {
			switch e.text[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		for i := p + 1; i < len(e.text); i++ {
			if e.text[i] == '\'' {
				if i+1 < len(e.text) && e.text[i+1] == '\'' {
					i++
					continue
				}
				return i + 1
			}
		}
	case isBlockScalar(n):
		return e.blockScalar(p, parent).last
	case n.Tag == "!!null" && n.Value == "":
		return p
	default:
		return e.plainEnd(p, parent, flow)
	}
	return len(e.text)
}

// lineEnd is the offset of the line break ending the line of off (before a
// "\r\n"), or the end of the text.
func (e *editor) lineEnd(off int) int {
	i := strings.IndexByte(e.text[off:], '\n')
	if i < 0 {
		return len(e.text)
	}
	if i > 0 && e.text[off+i-1] == '\r' {
		return off + i - 1
	}
	return off + i
}

// nextLine is the offset just after the line break ending the line of off.
func (e *editor) nextLine(off int) int {
	i := strings.IndexByte(e.text[off:], '\n')
	if i < 0 {
		return len(e.text)
	}
	return off + i + 1
}

func (e *editor) lineStart(off int) int {
	return strings.LastIndexByte(e.text[:off], '\n') + 1
}

// leadsLine reports whether only spaces precede off on its line.
func (e *editor) leadsLine(off int) bool {
	return strings.TrimLeft(e.text[e.lineStart(off):off], " ") == ""
}

// lineIndent counts the leading spaces of the line at off; blank lines and
// lines holding only a comment report -1.
func lineIndent(line string) int {
	t := strings.TrimLeft(line, " ")
	if t == "" || t == "\r" || t[0] == '#' {
		return -1
	}
	return len(line) - len(t)
}

// isDocumentMarker reports a "---" or "..." line, alone or followed by white
// space: it ends every scalar.
func isDocumentMarker(line string) bool {
	marker, rest := line[:min(3, len(line))], line[min(3, len(line)):]
	return (marker == "---" || marker == "...") && (rest == "" || strings.IndexByte(" \t\r\n", rest[0]) >= 0)
}

// plainEnd finds the end of a plain scalar: the rest of its line up to a
// comment, plus continuation lines indented deeper than its collection
// (block), or up to a flow indicator (flow).
func (e *editor) plainEnd(p, parent int, flow bool) int {
	end := p
	for i := p; i < len(e.text); i++ {
		c := e.text[i]
		if c == '#' && i > p && (e.text[i-1] == ' ' || e.text[i-1] == '\t' || e.text[i-1] == '\n') {
			break
		}
		if flow && strings.IndexByte(",[]{}", c) >= 0 {
			break
		}
		if c == ':' && (i+1 == len(e.text) || strings.IndexByte(" \t\r\n", e.text[i+1]) >= 0 || (flow && strings.IndexByte(",[]{}", e.text[i+1]) >= 0)) {
			break
		}
		if c == '\n' && !flow {
			next := e.nextLine(i)
			line := e.text[next:e.lineEnd(next)]
			if ind := lineIndent(line); ind <= parent || isDocumentMarker(line) {
				break
			}
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			end = i + 1
		}
	}
	return end
}

// blockRange describes a literal or folded scalar in the text.
type blockRange struct {
	header    int    // offset of '|' or '>'
	headerEnd int    // end of the indicators after it
	chomp     byte   // '-', '+' or 0
	explicit  string // explicit indentation indicator, if any
	first     int    // offset of the first content line
	last      int    // end of the last non-blank content line
	indent    int    // content indentation
}

// blockScalar measures the block scalar whose header is at p.
func (e *editor) blockScalar(p, parent int) blockRange {
	b := blockRange{header: p, headerEnd: p + 1}
	for b.headerEnd < len(e.text) && strings.IndexByte("0123456789+-", e.text[b.headerEnd]) >= 0 {
		switch c := e.text[b.headerEnd]; c {
		case '+', '-':
			b.chomp = c
		default:
			b.explicit += string(c)
		}
		b.headerEnd++
	}
	b.first = e.nextLine(p)
	b.last = e.lineEnd(p)
	if b.explicit != "" {
		d, _ := strconv.Atoi(b.explicit)
		b.indent = max(parent, 0) + d
	}
	for off := b.first; off < len(e.text); off = e.nextLine(off) {
		line := e.text[off:e.lineEnd(off)]
		if strings.TrimLeft(line, " ") == "" {
			continue
		}
		ind := len(line) - len(strings.TrimLeft(line, " "))
		if b.indent == 0 {
			if ind <= parent {
				break
			}
			b.indent = ind
		}
		if ind < b.indent || (ind == 0 && isDocumentMarker(line)) {
			break
		}
		b.last = off + len(line)
	}
	return b
}

// flowEnd finds the bracket closing the flow collection opened at p.
func (e *editor) flowEnd(p int) int {
	depth := 0
	for i := p; i < len(e.text); i++ {
		switch c := e.text[i]; c {
		case '"':
			for i++; i < len(e.text) && e.text[i] != '"'; i++ {
				if e.text[i] == '\\' {
					i++
				}
			}
		case '\'':
			for i++; i < len(e.text); i++ {
				if e.text[i] == '\'' {
					if i+1 < len(e.text) && e.text[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case '#':
			if i > 0 && strings.IndexByte(" \t\n", e.text[i-1]) >= 0 {
				i = e.lineEnd(i)
			}
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(e.text)
}
