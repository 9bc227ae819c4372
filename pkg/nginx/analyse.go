package nginx

import (
	"context"
	"fmt"
	"strings"
)

// scope is one block on the way from a file's top level to a directive.
type scope struct {
	kind    kind
	parent  *scope
	f       *file
	node    int32    // the block's node in f; -1 for the top level of f
	via     int32    // if/limit_except: the child of the enclosing location that leads here
	ver     *site    // proxy_http_version set in this block itself
	unknown []string // includes in this block that match no value of the ConfigMap
}

// site is one directive in one file.
type site struct {
	f *file
	n int32
}

// problem is why a set of values cannot be analysed safely.
type problem struct {
	key, msg string
	line     int
}

// reason words p for the Skip of value key.
func (p *problem) reason(key string) string {
	if p.key == key {
		return fmt.Sprintf("%s (line %d)", p.msg, p.line)
	}
	return fmt.Sprintf("%s (%s line %d)", p.msg, p.key, p.line)
}

// walker plans the edits for one set of values joined by includes.
type walker struct {
	ctx     context.Context
	set     *fileSet
	files   map[string]*file
	stack   []*file // values being expanded by include, outermost first
	visits  int
	limit   int
	err     *problem
	inserts []insertion
	insSeen map[site]bool
	rewr    []site // proxy_http_version 1.0 directives to switch
	rewSeen map[site]string
}

// insertion is one planned "proxy_http_version 1.1;": into block at, in
// front of its child directive anchor (a node of at.f).
type insertion struct {
	at     site
	anchor int32
	reason string
}

// maxIncludeDepth bounds include nesting; nginx has no bound of its own and
// loops on a cycle, so a deeper chain is treated as broken config.
const maxIncludeDepth = 16

func newWalker(ctx context.Context, set *fileSet, files map[string]*file) *walker {
	total := 0
	for _, f := range files {
		total += len(f.nodes)
	}
	// Includes make a value count once per include site; the limit allows a
	// generous amount of sharing and stops include fan-out that grows faster.
	return &walker{ctx: ctx, set: set, files: files, limit: max(1<<20, 16*total), insSeen: map[site]bool{}, rewSeen: map[site]string{}}
}

// root analyses a value nginx reads as a whole file.
func (w *walker) root(f *file) {
	w.stack = append(w.stack[:0], f)
	w.block(&scope{kind: rootKind(f), f: f, node: -1}, f, 0, int32(len(f.nodes)))
}

func (w *walker) fail(f *file, n int32, format string, args ...any) {
	if w.err == nil {
		w.err = &problem{key: f.key, line: f.line(n), msg: fmt.Sprintf(format, args...)}
	}
}

// tick counts one directive visit and says whether to go on.
func (w *walker) tick(f *file, n int32) bool {
	w.visits++
	if w.visits > w.limit {
		w.fail(f, n, "includes expand to more than %d directives", w.limit)
	} else if w.visits&4095 == 0 && w.ctx.Err() != nil {
		w.fail(f, n, "%s", reasonDeadline)
	}
	return w.err == nil
}

// each calls fn for every directive of the block [lo,hi) of f, with includes
// of other values expanded in place. via is the directive of the block's own
// file that is or includes the one passed; an include matching no parsed
// value is passed itself.
func (w *walker) each(f *file, lo, hi, via int32, fn func(g *file, n, via int32)) {
	for c := lo; c < hi && w.tick(f, c); c = f.nodes[c].end {
		v := via
		if v < 0 {
			v = c
		}
		if f.nodes[c].name != "include" || f.nodes[c].block {
			fn(f, c, v)
			continue
		}
		keys := w.set.resolve(f, c)
		known := 0
		for _, k := range keys {
			g := w.files[k]
			if g == nil {
				continue
			}
			known++
			for _, s := range w.stack {
				if s == g {
					w.fail(f, c, "include cycle through %s", k)
					return
				}
			}
			if len(w.stack) == maxIncludeDepth {
				w.fail(f, c, "includes nested deeper than %d levels", maxIncludeDepth)
				return
			}
			w.stack = append(w.stack, g)
			w.each(g, 0, int32(len(g.nodes)), v, fn)
			w.stack = w.stack[:len(w.stack)-1]
		}
		if known < len(keys) || len(keys) == 0 {
			fn(f, c, v)
		}
	}
}

// block analyses the directives [lo,hi) of f that make up scope s.
func (w *walker) block(s *scope, f *file, lo, hi int32) {
	holds := s.kind == kindHTTP || s.kind == kindServer || s.kind == kindLocation
	w.each(f, lo, hi, -1, func(g *file, n, _ int32) {
		switch g.nodes[n].name {
		case "proxy_http_version":
			switch {
			case !holds:
				w.fail(g, n, "proxy_http_version is not allowed here")
			case s.ver != nil:
				w.fail(g, n, "proxy_http_version is duplicate in %s", label(s))
			default:
				s.ver = &site{g, n}
			}
		case "include":
			if a, ok := g.arg(n); ok {
				s.unknown = append(s.unknown, g.val(a))
			}
		}
	})
	w.each(f, lo, hi, -1, func(g *file, n, via int32) {
		nd := &g.nodes[n]
		if !nd.block {
			if nd.name == "proxy_pass" {
				w.proxyPass(s, g, n, via)
			}
			return
		}
		k := childKind(s.kind, nd.name)
		switch k {
		case kindOther:
			return
		case kindUnknown:
			w.scanUnknown(g, n)
			return
		}
		w.block(&scope{kind: k, parent: s, f: g, node: n, via: via}, g, n+1, nd.end)
	})
}

// scanUnknown refuses a block this analysis does not know when it holds
// directives it would have to reason about.
func (w *walker) scanUnknown(f *file, n int32) {
	for i := n + 1; i < f.nodes[n].end; i++ {
		if name := f.nodes[i].name; name == "proxy_pass" || name == "proxy_http_version" {
			w.fail(f, i, "%s inside a %q block, whose meaning this analysis does not know", name, f.nodes[n].name)
			return
		}
	}
}

// proxyPass plans the fix, if any, for the proxy_pass n of g seen in scope s.
func (w *walker) proxyPass(s *scope, g *file, n, via int32) {
	target, anchor := s, via
	switch s.kind {
	case kindLocation:
	case kindIf, kindLimitExcept:
		target, anchor = s.parent, s.via
	default:
		return // directly in a server it is stream's TCP proxy_pass; elsewhere nginx rejects it
	}
	a, ok := g.arg(n)
	if !ok {
		w.fail(g, n, "proxy_pass needs exactly one argument")
		return
	}
	upstream := g.val(a)
	if len(upstream) >= 8 && strings.EqualFold(upstream[:8], "https://") {
		return
	}
	where := func() string { return fmt.Sprintf("proxy_pass %s in %s", upstream, label(s)) }
	for c := s; c != nil; c = c.parent {
		if c.ver == nil {
			continue
		}
		v, ok := c.ver.f.arg(c.ver.n)
		if !ok {
			w.fail(c.ver.f, c.ver.n, "proxy_http_version needs exactly one argument")
		} else if c.ver.f.val(v) == "1.0" && w.rewSeen[*c.ver] == "" {
			w.rewr = append(w.rewr, *c.ver)
			w.rewSeen[*c.ver] = "proxy_http_version 1.0 applies to " + where() + w.at(c.ver.f, g, n)
		}
		return
	}
	at := site{target.f, target.node}
	if w.insSeen[at] {
		return
	}
	w.insSeen[at] = true
	reason := where()
	if g != target.f {
		reason += w.at(target.f, g, n)
	}
	switch len(target.unknown) {
	case 0:
	case 1:
		reason += "; include " + target.unknown[0] + " is not in this ConfigMap and must not also set proxy_http_version"
	default:
		reason += "; includes " + strings.Join(target.unknown, ", ") + " are not in this ConfigMap and must not also set proxy_http_version"
	}
	w.inserts = append(w.inserts, insertion{at: at, anchor: anchor, reason: reason})
}

// at locates directive n of g for a message about a change in file from.
func (w *walker) at(from, g *file, n int32) string {
	if from == g {
		return fmt.Sprintf(" (line %d)", g.line(n))
	}
	return fmt.Sprintf(" (%s line %d)", g.key, g.line(n))
}
