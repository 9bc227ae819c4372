package nginx

import (
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
	eff     *scope   // the nearest of this block and its parents that sets proxy_http_version
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
	return fmt.Sprintf("%s (%s line %d)", p.msg, clipName(p.key), p.line)
}

// root analyses a value nginx reads as a whole file.
func (w *walker) root(f *file) {
	w.stack = append(w.stack[:0], f)
	w.block(w.newScope(scope{kind: rootKind(f), f: f, node: -1}), f, 0, int32(len(f.nodes)))
}

// each visits every directive of the block [lo,hi) of f, which makes up
// scope s, with includes of other values expanded in place: with settings
// the first pass over the block (what it sets), else the second (what it
// proxies and the blocks in it). via is the directive of the block's own
// file that is or includes the one visited; an include matching no parsed
// value is visited itself. (A method per pass rather than a callback: a
// closure per block would be most of the cost of a small value.)
func (w *walker) each(s *scope, f *file, lo, hi, via int32, settings bool) {
	for c := lo; c < hi && w.tick(f, c); c = f.nodes[c].end {
		v := via
		if v < 0 {
			v = c
		}
		if f.nodes[c].name != "include" || f.nodes[c].block {
			w.visit(s, f, c, v, settings)
			continue
		}
		inc := w.set.includes(f, c)
		unknown := inc.unknown
		for _, k := range inc.keys {
			// every value an include names counts as a visit, even an empty one
			if !w.tick(f, c) {
				return
			}
			g := w.file(k)
			if inc.glob && !g.fits(s.kind) {
				// The ConfigMap is mounted as one directory, so a glob
				// over another directory (Debian's modules-enabled/*.conf
				// at main level) matches its keys by name only. A value
				// nginx would reject here is not what that glob reads.
				unknown = true
				continue
			}
			for _, open := range w.stack {
				if open == g {
					w.fail(f, c, "include cycle through %s", clipName(k))
					return
				}
			}
			if len(w.stack) == maxIncludeDepth {
				w.fail(f, c, "includes nested deeper than %d levels", maxIncludeDepth)
				return
			}
			w.stack = append(w.stack, g)
			w.each(s, g, 0, int32(len(g.nodes)), v, settings)
			w.stack = w.stack[:len(w.stack)-1]
		}
		if unknown {
			w.visit(s, f, c, v, settings)
		}
	}
}

// block analyses the directives [lo,hi) of f that make up scope s.
func (w *walker) block(s *scope, f *file, lo, hi int32) {
	w.each(s, f, lo, hi, -1, true)
	// the second pass needs to know, at each proxy_pass, which block's
	// proxy_http_version applies: known now, so it is not searched for there
	s.eff = s
	if s.ver == nil {
		s.eff = nil
		if s.parent != nil {
			s.eff = s.parent.eff
		}
	}
	w.each(s, f, lo, hi, -1, false)
}

// visit handles directive n of g in scope s, in the first or second pass.
func (w *walker) visit(s *scope, g *file, n, via int32, settings bool) {
	nd := &g.nodes[n]
	if settings {
		switch nd.name {
		case "proxy_http_version":
			switch {
			case s.kind != kindHTTP && s.kind != kindServer && s.kind != kindLocation:
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
		return
	}
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
	w.block(w.newScope(scope{kind: k, parent: s, f: g, node: n, via: via}), g, n+1, nd.end)
}

// scanUnknown refuses a block this analysis does not know when it holds
// directives it would have to reason about.
func (w *walker) scanUnknown(f *file, n int32) {
	for i := n + 1; i < f.nodes[n].end && w.tick(f, i); i++ {
		if name := f.nodes[i].name; name == "proxy_pass" || name == "proxy_http_version" {
			w.fail(f, i, "%s inside a %q block, whose meaning this analysis does not know", name, clipName(f.nodes[n].name))
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
	where := func() string { return "proxy_pass " + clipName(upstream) + " in " + label(s) }
	if c := s.eff; c != nil {
		v, ok := c.ver.f.arg(c.ver.n)
		if !ok {
			w.fail(c.ver.f, c.ver.n, "proxy_http_version needs exactly one argument")
		} else if c.ver.f.val(v) == "1.0" && w.rewSeen[*c.ver] == "" {
			if w.rewSeen == nil {
				w.rewSeen = map[site]string{}
			}
			w.rewr = append(w.rewr, *c.ver)
			w.rewSeen[*c.ver] = "proxy_http_version 1.0 applies to " + where() + w.at(c.ver.f, g, n)
		}
		return
	}
	at := site{target.f, target.node}
	if w.insSeen[at] {
		return
	}
	if w.insSeen == nil {
		w.insSeen = map[site]bool{}
	}
	w.insSeen[at] = true
	reason := where()
	if g != target.f {
		reason += w.at(target.f, g, n)
	}
	switch len(target.unknown) {
	case 0:
	case 1:
		reason += "; include " + clipName(target.unknown[0]) + " is not in this ConfigMap and must not also set proxy_http_version"
	default:
		reason += "; includes " + nameList(target.unknown) + " are not in this ConfigMap and must not also set proxy_http_version"
	}
	w.inserts = append(w.inserts, insertion{at: at, anchor: anchor, reason: reason})
}

// at locates directive n of g for a message about a change in file from.
func (w *walker) at(from, g *file, n int32) string {
	if from == g {
		return fmt.Sprintf(" (line %d)", g.line(n))
	}
	return fmt.Sprintf(" (%s line %d)", clipName(g.key), g.line(n))
}

// nameList joins names for a message, each clipped, and stops once the list
// is as long as a label may be: a block with thousands of includes must not
// put all of them into its one message.
func nameList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if b.Len() > maxLabel {
			fmt.Fprintf(&b, " and %d more", len(names)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(clipName(n))
	}
	return b.String()
}
