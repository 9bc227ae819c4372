package nginx

import (
	"context"
	"fmt"
)

// rewriteComponent plans, applies and checks the edits of one set of values
// joined by includes. The set changes as a whole or not at all: an edit in
// one value (a shared "proxy_http_version 1.0;") can be what fixes another.
func (s *fileSet) rewriteComponent(ctx context.Context, comp []string, res *Result) {
	files := make(map[string]*file, len(comp))
	for _, k := range comp {
		files[k] = s.parsed[k]
	}
	roots := s.roots(comp)
	if len(roots) == 0 {
		s.skipUnfinished(comp, res, "these values include each other in a cycle")
		return
	}
	w := newWalker(ctx, s, files)
	for _, r := range roots {
		if w.err == nil {
			w.root(files[r])
		}
	}
	if w.err != nil {
		for _, k := range comp {
			reason := w.err.reason(k)
			if ctx.Err() != nil {
				reason = reasonDeadline
			}
			s.skip(k, reason, res)
		}
		return
	}
	if len(w.inserts) == 0 && len(w.rewr) == 0 {
		return
	}
	cs, err := w.changes()
	if err != nil {
		s.skipUnfinished(comp, res, "cannot rewrite safely: "+err.Error())
		return
	}
	out := make(map[string]string, len(cs))
	for k, c := range cs {
		out[k] = applyChanges(files[k].src, c)
	}
	if err := s.check(ctx, roots, files, out); err != nil {
		reason := "left unchanged, the rewritten text failed its own check: " + err.Error()
		if ctx.Err() != nil {
			reason = reasonDeadline
		}
		s.skipUnfinished(comp, res, reason)
		return
	}
	if res.Changed == nil {
		res.Changed = map[string]string{}
	}
	for _, k := range comp {
		if v, ok := out[k]; ok {
			res.Changed[k] = v
			for _, c := range cs[k] {
				res.Edits = append(res.Edits, c.edit)
			}
		}
	}
}

// check parses the rewritten values and analyses the set again: the result
// must be nginx config that needs no further edit. This catches any mistake
// in placing an edit before it can reach a cluster.
func (s *fileSet) check(ctx context.Context, roots []string, files map[string]*file, out map[string]string) error {
	next := make(map[string]*file, len(files))
	for k, f := range files {
		next[k] = f
	}
	for k, v := range out {
		f, err := parse(k, v)
		if err != nil {
			return fmt.Errorf("%s does not parse: %w", k, err)
		}
		if err := sameTokens(&files[k].lexed, &f.lexed); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		next[k] = f
	}
	w := newWalker(ctx, s, next)
	for _, r := range roots {
		if w.err == nil {
			w.root(next[r])
		}
	}
	switch {
	case w.err != nil:
		return fmt.Errorf("%s", w.err.reason(""))
	case len(w.inserts)+len(w.rewr) > 0:
		return fmt.Errorf("a second pass still wants %d edits", len(w.inserts)+len(w.rewr))
	}
	return nil
}

// sameTokens checks that after differs from before only by inserted
// "proxy_http_version 1.1;" directives and "1.0" tokens turned into "1.1".
func sameTokens(before, after *lexed) error {
	i, j := int32(0), int32(0)
	nb, na := int32(len(before.toks)), int32(len(after.toks))
	for j < na {
		a := &after.toks[j]
		if i < nb {
			b := &before.toks[i]
			bv, av := before.val(i), after.val(j)
			if b.flags&^tokDirty == a.flags&^tokDirty && (bv == av || bv == "1.0" && av == "1.1") {
				i, j = i+1, j+1
				continue
			}
		}
		if j+2 < na && !a.quoted() && after.val(j) == "proxy_http_version" &&
			!after.toks[j+1].quoted() && after.val(j+1) == "1.1" && after.is(j+2, ';') {
			j += 3
			continue
		}
		return fmt.Errorf("token %q in line %d changed", after.val(j), a.line)
	}
	if i != nb {
		return fmt.Errorf("tokens from line %d on were lost", before.toks[i].line)
	}
	return nil
}
