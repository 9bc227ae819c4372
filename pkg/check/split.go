package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// isSeparator reports a document marker line: "---" (starts a document) or
// "..." (ends one), alone or followed by white space.
func isSeparator(line []byte, marker string) bool {
	return bytes.HasPrefix(line, []byte(marker)) && (len(line) == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r' || line[3] == '\n')
}

// splitYAML cuts a YAML stream at its document markers. Markers are found by
// text, as the YAML spec allows: "---" and "..." at the start of a line cannot
// occur inside any scalar.
func splitYAML(data []byte) []*document {
	var ranges []*document
	cur := &document{start: 0, line: 1}
	for pos, line := 0, 1; pos < len(data); line++ {
		next := bytes.IndexByte(data[pos:], '\n')
		end := len(data)
		if next >= 0 {
			end = pos + next + 1
		}
		text := data[pos:end]
		switch {
		case isSeparator(text, "---"):
			if pos > cur.start || cur.marker {
				cur.end = pos
				ranges = append(ranges, cur)
				cur = &document{start: pos, line: line}
			}
			cur.marker = true
		case isSeparator(text, "..."):
			cur.end = end
			ranges = append(ranges, cur)
			cur = &document{start: end, line: line + 1}
		}
		pos = end
	}
	cur.end = len(data)
	ranges = append(ranges, cur)
	// Every "---" starts a document, even an empty one; a range without
	// content and without "---" (comments or directives before the first
	// marker, or after a "...") belongs to its neighbour.
	var out []*document
	for i, d := range ranges {
		d.scan(data)
		if d.content == 0 && !d.marker {
			if i+1 < len(ranges) {
				ranges[i+1].start, ranges[i+1].line = d.start, d.line
				continue
			}
			if len(out) > 0 {
				out[len(out)-1].end = d.end
				continue
			}
		}
		out = append(out, d)
	}
	for i, d := range out {
		d.index = i
	}
	return out
}

// scan finds the document's first content line and helm's "# Source:" comment.
func (d *document) scan(data []byte) {
	lines := bytes.SplitAfter(data[d.start:d.end], []byte("\n"))
	for i, l := range lines {
		t := strings.TrimSpace(string(l))
		if isSeparator(l, "---") {
			t = strings.TrimSpace(t[3:])
		}
		switch {
		case t == "" || t == "..." || strings.HasPrefix(t, "%"):
		case strings.HasPrefix(t, "#"):
			if src, ok := strings.CutPrefix(t, "# Source: "); ok && d.source == "" {
				d.source = strings.TrimSpace(src)
			}
		default:
			d.content = d.line + i
			return
		}
	}
}

// splitJSON reads a stream of JSON values; it returns nil, nil when the input
// does not start like JSON.
func splitJSON(data []byte) ([]*document, *DocError) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return nil, nil
	}
	var docs []*document
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		before := int(dec.InputOffset())
		err := dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		if err != nil {
			off := before
			var se *json.SyntaxError
			if errors.As(err, &se) {
				off = int(se.Offset)
			}
			return nil, &DocError{DocumentIndex: len(docs), Item: -1, Line: lineAt(data, off), Err: fmt.Errorf("invalid JSON: %v", err)}
		}
		start := before
		for start < len(data) && strings.IndexByte(" \t\r\n", data[start]) >= 0 {
			start++
		}
		if len(docs) == 0 {
			start = 0
		}
		d := &document{index: len(docs), start: start, line: lineAt(data, start), content: lineAt(data, int(dec.InputOffset())-len(raw)), json: raw}
		if len(docs) > 0 {
			docs[len(docs)-1].end = start
		}
		docs = append(docs, d)
	}
	if len(docs) > 0 {
		docs[len(docs)-1].end = len(data)
	}
	return docs, nil
}

// lineAt is the 1-based line of a byte offset.
func lineAt(data []byte, off int) int {
	return bytes.Count(data[:min(off, len(data))], []byte("\n")) + 1
}
