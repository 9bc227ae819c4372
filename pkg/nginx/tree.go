package nginx

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds block nesting; real configs stay under ten levels, and the
// bound keeps a hostile value from costing more than its size.
const maxDepth = 64

// node is one directive. Nodes are stored in document order, so a block's
// children are the nodes from its index+1 up to end, and the next sibling of
// node i is node nodes[i].end.
type node struct {
	name    string
	nameTok int32 // token index of the directive name
	term    int32 // token index of the ";" or "{" that ends the directive
	end     int32 // node index just past this node's subtree
	arg     int32 // token index of the only argument; -1 unless there is exactly one
	block   bool
}

// file is one parsed ConfigMap value.
type file struct {
	key string
	lexed
	nodes []node
	incs  map[int32]incl        // what each include directive names, filled as asked
	fit   [kindUnknown + 1]int8 // per context kind: 0 not yet known, 1 fits, -1 does not
}

// fits reports whether f can be included into a block of kind parent: none
// of its top-level blocks is one nginx refuses there (a server block at main
// level). Worked out once per kind: a value may be included from many sites.
func (f *file) fits(parent kind) bool {
	if f.fit[parent] == 0 {
		f.fit[parent] = 1
		for c := int32(0); c < int32(len(f.nodes)); c = f.nodes[c].end {
			if f.nodes[c].block && childKind(parent, f.nodes[c].name) == kindUnknown {
				f.fit[parent] = -1
				break
			}
		}
	}
	return f.fit[parent] > 0
}

// args returns the token indexes of the arguments of node n, comments left
// out as crossplane leaves them out.
func (f *file) args(n int32) []int32 {
	nd := &f.nodes[n]
	var out []int32
	for i := nd.nameTok + 1; i < nd.term; i++ {
		if !f.toks[i].comment() {
			out = append(out, i)
		}
	}
	return out
}

// arg returns the token index of the only argument of node n, or false when
// it has not exactly one. It is read on every visit of a directive, and a
// directive may be visited once per include site, so parse works it out once.
func (f *file) arg(n int32) (int32, bool) {
	a := f.nodes[n].arg
	return a, a >= 0
}

// line returns the line of node n's name.
func (f *file) line(n int32) int { return int(f.toks[f.nodes[n].nameTok].line) }

// maxLabel bounds the length of a label: a hostile block with a megabyte of
// arguments must not be copied into every message that names it.
const maxLabel = 4 * maxName

// label describes block node n for messages, e.g. "location /api".
func (f *file) label(n int32) string {
	var b strings.Builder
	b.Grow(64)
	b.WriteString(clipName(f.nodes[n].name))
	for a := f.nodes[n].nameTok + 1; a < f.nodes[n].term; a++ {
		if f.toks[a].comment() {
			continue
		}
		if b.Len() > maxLabel {
			b.WriteString(" ...")
			break
		}
		b.WriteByte(' ')
		b.WriteString(clipName(f.val(a)))
	}
	return b.String()
}

// parse lexes and builds the directive tree of one value. It is stricter
// than crossplane.Parse where crossplane would accept text nginx rejects or
// text that is not nginx at all: directive names must look like nginx
// directive names (outside map-like bodies), a directive must end with ";"
// or "{", and embedded Lua is refused because its contents are not nginx
// tokens.
//
// ctx is checked every parseCheckEvery tokens, so a huge value stops soon
// after the request's time budget runs out; the error is then ctx.Err().
func parse(ctx context.Context, key, src string) (*file, error) {
	l, err := lex(ctx, src)
	if err != nil {
		return nil, err
	}
	// a directive takes three tokens or more: growing the nodes would cost more
	f := &file{key: key, lexed: l, nodes: make([]node, 0, len(l.toks)/3+1)}
	toks := l.toks
	var open []int32 // indexes of the open block nodes
	checkAt := int32(parseCheckEvery)
	for i := int32(0); i < int32(len(toks)); i++ {
		if i >= checkAt {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			checkAt = i + parseCheckEvery
		}
		t := &toks[i]
		if t.comment() {
			continue
		}
		if f.is(i, '}') {
			if len(open) == 0 {
				return nil, fmt.Errorf(`unexpected "}" in line %d`, t.line)
			}
			f.nodes[open[len(open)-1]].end = int32(len(f.nodes))
			open = open[:len(open)-1]
			continue
		}
		if f.special(i) {
			return nil, fmt.Errorf("unexpected %q in line %d", f.val(i), t.line)
		}
		name := f.val(i)
		parent := ""
		if len(open) > 0 {
			parent = f.nodes[open[len(open)-1]].name
		}
		if !mapLike(parent) && !validName(name) {
			return nil, fmt.Errorf("%q in line %d is not an nginx directive", clip(name), t.line)
		}
		if strings.HasSuffix(name, "_by_lua_block") {
			return nil, &opaqueError{fmt.Sprintf("%s in line %d holds Lua code, which is not analysed", clipName(name), t.line)}
		}
		nd := node{name: name, nameTok: i, arg: -1}
		nargs := 0
		j := i + 1
		for ; j < int32(len(toks)) && !f.special(j); j++ {
			if !toks[j].comment() {
				nargs++
				nd.arg = j
			}
		}
		if nargs != 1 {
			nd.arg = -1
		}
		if j == int32(len(toks)) {
			return nil, fmt.Errorf("unexpected end of file, expecting \";\" or \"{\" after %q in line %d", clip(name), t.line)
		}
		if f.is(j, '}') {
			return nil, fmt.Errorf("directive %q in line %d is not terminated by \";\"", clip(name), t.line)
		}
		nd.term = j
		nd.block = f.is(j, '{')
		f.nodes = append(f.nodes, nd)
		if nd.block {
			if len(open) == maxDepth {
				return nil, fmt.Errorf("blocks nested deeper than %d levels in line %d", maxDepth, t.line)
			}
			open = append(open, int32(len(f.nodes)-1))
		} else {
			f.nodes[len(f.nodes)-1].end = int32(len(f.nodes))
		}
		i = j
	}
	if len(open) > 0 {
		return nil, fmt.Errorf(`unexpected end of file, expecting "}"`)
	}
	return f, nil
}

// mapLike reports whether a block's body holds parameters rather than
// directives (the same list crossplane keeps), so its entries may be any
// string: hostnames, regexes, MIME types, addresses.
func mapLike(name string) bool {
	switch name {
	case "map", "geo", "types", "split_clients", "charset_map", "match", "geoip2", "otel_exporter":
		return true
	}
	return false
}

// validName reports whether s can be an nginx directive name. nginx itself
// accepts any word and fails later with "unknown directive"; requiring the
// shape every real directive has is what tells nginx config apart from
// YAML, JSON or shell text that happens to lex.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// parseCheckEvery is how many tokens parse reads between two looks at the
// context: a few microseconds of work, so the look costs nothing measurable.
const parseCheckEvery = 4096

// maxName is how much of a user's name (a location, an upstream, a key) a
// message quotes: enough for any real one, and a bound on what a hostile one
// costs in every message that names it.
const maxName = 120

// clip shortens a directive name for a parse error.
func clip(s string) string { return clipTo(s, 40) }

// clipName shortens a user's name for a message.
// opaqueError is nginx configuration the parser accepts as such but does
// not look into (Lua code): the value is valid, only not analysable.
type opaqueError struct{ msg string }

func (e *opaqueError) Error() string { return e.msg }

func clipName(s string) string { return clipTo(s, maxName) }

// clipTo shortens s to at most n bytes, ending in "..." when cut, without
// splitting a UTF-8 sequence.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
