package nginx

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

const newDirective = "proxy_http_version 1.1;"

// change is one byte-level edit of one value.
type change struct {
	off, del int // replace del bytes at off ...
	text     string
	edit     Edit
}

// edited is one value with its edits, sorted by offset, and its new text.
type edited struct {
	key  string
	cs   []change
	text string
}

// changes turns the walker's plan into byte-level edits, grouped by value in
// key order. (A slice rather than a map by key: most sets are one value,
// and a map per set was a noticeable part of the cost of many small ones.)
func (w *walker) changes() ([]edited, error) {
	all := make([]change, 0, len(w.inserts)+len(w.rewr))
	for _, ins := range w.inserts {
		c := insertChange(ins.at.f, ins.anchor)
		c.edit.Reason = ins.reason
		all = append(all, c)
	}
	for _, s := range w.rewr {
		c, err := rewriteChange(s.f, s.n)
		if err != nil {
			return nil, err
		}
		c.edit.Reason = w.rewSeen[s]
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b change) int {
		if c := strings.Compare(a.edit.File, b.edit.File); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
	})
	var out []edited
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].edit.File == all[i].edit.File {
			if all[j].off < all[j-1].off+all[j-1].del {
				return nil, fmt.Errorf("overlapping edits in line %d", all[j].edit.Line)
			}
			j++
		}
		out = append(out, edited{key: all[i].edit.File, cs: all[i:j:j]})
		i = j
	}
	return out, nil
}

// insertChange places the new directive in front of directive anchor of f:
// on a line of its own, indented like the anchor, when the anchor starts its
// line; otherwise on the anchor's line, right before it, followed by one
// space (a one-line block such as "location / { proxy_pass http://x; }").
//
// Only the gap between the previous token and the anchor is searched for
// the line start: searching back from the anchor through the whole text
// would cost a full pass per edit on a value written without newlines.
func insertChange(f *file, anchor int32) change {
	ti := f.nodes[anchor].nameTok
	t := &f.toks[ti]
	start := int(t.start)
	prevEnd := 0
	if ti > 0 {
		prevEnd = int(f.toks[ti-1].end)
	}
	c := change{edit: Edit{File: f.key, Line: int(t.line), New: newDirective}}
	ls := -1 // where the anchor's line starts, if nothing but blanks come before it there
	if i := strings.LastIndexByte(f.src[prevEnd:start], '\n'); i >= 0 {
		ls = prevEnd + i + 1
	} else if prevEnd == 0 || f.src[prevEnd-1] == '\n' {
		ls = prevEnd
	}
	if ls >= 0 {
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
// line's, so a CRLF file stays CRLF. It reads the rest of the line; that
// costs one pass over the text in all, because only an anchor that starts
// its line gets here, and a line has one start.
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
