package nginx

import (
	"fmt"
	"sort"
	"strings"
)

const newDirective = "proxy_http_version 1.1;"

// change is one byte-level edit of one value.
type change struct {
	off, del int // replace del bytes at off ...
	text     string
	edit     Edit
}

// changes turns the walker's plan into byte-level edits per value.
func (w *walker) changes() (map[string][]change, error) {
	out := map[string][]change{}
	for _, ins := range w.inserts {
		c := insertChange(ins.at.f, ins.anchor)
		c.edit.Reason = ins.reason
		out[ins.at.f.key] = append(out[ins.at.f.key], c)
	}
	for _, s := range w.rewr {
		c, err := rewriteChange(s.f, s.n)
		if err != nil {
			return nil, err
		}
		c.edit.Reason = w.rewSeen[s]
		out[s.f.key] = append(out[s.f.key], c)
	}
	for _, cs := range out {
		sort.Slice(cs, func(i, j int) bool { return cs[i].off < cs[j].off })
		for i := 1; i < len(cs); i++ {
			if cs[i].off < cs[i-1].off+cs[i-1].del {
				return nil, fmt.Errorf("overlapping edits in line %d", cs[i].edit.Line)
			}
		}
	}
	return out, nil
}

// insertChange places the new directive in front of directive anchor of f:
// on a line of its own, indented like the anchor, when the anchor starts its
// line; otherwise on the anchor's line, right before it, followed by one
// space (a one-line block such as "location / { proxy_pass http://x; }").
func insertChange(f *file, anchor int32) change {
	ti := f.nodes[anchor].nameTok
	t := &f.toks[ti]
	start := int(t.start)
	ls := strings.LastIndexByte(f.src[:start], '\n') + 1
	prevEnd := 0
	if ti > 0 {
		prevEnd = int(f.toks[ti-1].end)
	}
	c := change{edit: Edit{File: f.key, Line: int(t.line), New: newDirective}}
	if prevEnd <= ls {
		c.off = ls
		c.text = f.src[ls:start] + newDirective + lineEnding(f.src, start, ls)
	} else {
		c.off = start
		c.text = newDirective + " "
	}
	return c
}

// lineEnding returns the line ending to give a line inserted at ls, in front
// of the line holding offset at: that line's own ending, else the previous
// line's, so a CRLF file stays CRLF.
func lineEnding(src string, at, ls int) string {
	if i := strings.IndexByte(src[at:], '\n'); i >= 0 {
		if i > 0 && src[at+i-1] == '\r' {
			return "\r\n"
		}
		return "\n"
	}
	if ls >= 2 && src[ls-2] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// rewriteChange switches the version token of proxy_http_version n of f
// from 1.0 to 1.1, touching only those three bytes (quotes stay as written).
func rewriteChange(f *file, n int32) (change, error) {
	nd := &f.nodes[n]
	vi, ok := f.arg(n)
	if !ok || f.val(vi) != "1.0" {
		return change{}, fmt.Errorf("proxy_http_version in line %d is not 1.0", f.line(n))
	}
	v := &f.toks[vi]
	off := int(v.start)
	if v.quoted() {
		off++
	}
	if v.flags&(tokDirty|tokOpen) != 0 || f.src[off:off+3] != "1.0" {
		return change{}, fmt.Errorf("proxy_http_version in line %d is not written plainly enough to rewrite in place", f.line(n))
	}
	first, last := int(f.toks[nd.nameTok].start), int(f.toks[nd.term].end)
	old := f.src[first:last]
	rel := off - first
	return change{
		off: off, del: 3, text: "1.1",
		edit: Edit{File: f.key, Line: int(v.line), Old: old, New: old[:rel] + "1.1" + old[rel+3:]},
	}, nil
}

// applyChanges returns src with cs (sorted, not overlapping) applied.
func applyChanges(src string, cs []change) string {
	var b strings.Builder
	n := len(src)
	for _, c := range cs {
		n += len(c.text) - c.del
	}
	b.Grow(n)
	prev := 0
	for _, c := range cs {
		b.WriteString(src[prev:c.off])
		b.WriteString(c.text)
		prev = c.off + c.del
	}
	b.WriteString(src[prev:])
	return b.String()
}
