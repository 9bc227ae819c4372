package nginx

import (
	"context"
	"fmt"
	"slices"
)

// rewriteComponent plans, applies and checks the edits of one set of values
// joined by includes. The set changes as a whole or not at all: an edit in
// one value (a shared "proxy_http_version 1.0;") can be what fixes another.
func (s *fileSet) rewriteComponent(ctx context.Context, comp []string, res *Result) {
	roots := s.roots(comp)
	if len(roots) == 0 {
		s.skipUnfinished(comp, res, "these values include each other in a cycle")
		return
	}
	w := newWalker(ctx, s, nil, 0)
	for _, r := range roots {
		if w.err == nil {
			w.root(s.parsed[r])
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
	eds, err := w.changes()
	if err != nil {
		s.skipUnfinished(comp, res, "cannot rewrite safely: "+err.Error())
		return
	}
	if ctx.Err() != nil {
		s.skipUnfinished(comp, res, reasonDeadline)
		return
	}
	for i := range eds {
		eds[i].text = applyChanges(s.parsed[eds[i].key].src, eds[i].cs)
	}
	if err := s.check(ctx, roots, eds); err != nil {
		reason := "left unchanged, the rewritten text failed its own check: " + err.Error()
		if ctx.Err() != nil {
			reason = reasonDeadline
		}
		s.skipUnfinished(comp, res, reason)
		return
	}
	if res.Changed == nil {
		// sized once: growing them value by value costs more than the rest
		// of a small value, and most candidates take an edit or two
		res.Changed = make(map[string]string, len(s.candidate))
		res.Edits = make([]Edit, 0, 2*len(s.candidate))
	}
	for _, e := range eds {
		res.Changed[e.key] = e.text
		for _, c := range e.cs {
			res.Edits = append(res.Edits, c.edit)
		}
	}
}

// check parses the rewritten values and analyses the set again: the result
// must be nginx config that needs no further edit. This catches any mistake
// in placing an edit before it can reach a cluster.
func (s *fileSet) check(ctx context.Context, roots []string, eds []edited) error {
	next := make([]*file, 0, len(eds))
	for _, e := range eds {
		f, err := parse(ctx, e.key, e.text)
		if err != nil {
			return fmt.Errorf("%s does not parse: %w", e.key, err)
		}
		if err := sameTokens(ctx, &s.parsed[e.key].lexed, &f.lexed); err != nil {
			return fmt.Errorf("%s: %w", e.key, err)
		}
		next = append(next, f)
	}
	w := newWalker(ctx, s, next, 1)
	for _, r := range roots {
		if w.err == nil {
			w.root(w.file(r))
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
func sameTokens(ctx context.Context, before, after *lexed) error {
	i, j := int32(0), int32(0)
	nb, na := int32(len(before.toks)), int32(len(after.toks))
	checkAt := int32(parseCheckEvery)
	for j < na {
		if j >= checkAt {
			if err := ctx.Err(); err != nil {
				return err
			}
			checkAt = j + parseCheckEvery
		}
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

// components groups the parsed values into sets joined by includes, keeping
// only the sets that hold a candidate: each set is rewritten as a whole.
// The union-find halves its paths, so many values chained by includes cost
// about as much as few, and the sets share one array, so many values that
// include nothing cost one allocation, not one each.
func (s *fileSet) components() [][]string {
	keys := s.keys
	root := make([]int32, len(keys))
	for i := range keys {
		root[i] = int32(i)
	}
	var index map[string]int32
	if len(s.edges) > 0 {
		index = make(map[string]int32, len(keys))
		for i, k := range keys {
			index[k] = int32(i)
		}
	}
	find := func(i int32) int32 {
		for root[i] != i {
			root[i] = root[root[i]]
			i = root[i]
		}
		return i
	}
	for from, tos := range s.edges {
		for _, to := range tos {
			a, b := find(index[from]), find(index[to])
			// the smaller index (key) is the root, which keeps the
			// components in key order whatever order the edges come in
			root[max(a, b)] = min(a, b)
		}
	}
	// a counting sort by root puts each set in one run of flat, the runs
	// in the order of their roots: start[r] is where the run of root r begins
	start := make([]int32, len(keys)+1)
	for i := range keys {
		root[i] = find(int32(i))
		start[root[i]+1]++
	}
	for r := 1; r <= len(keys); r++ {
		start[r] += start[r-1]
	}
	next := slices.Clone(start)
	flat := make([]string, len(keys))
	for i, k := range keys {
		flat[next[root[i]]] = k
		next[root[i]]++
	}
	out := make([][]string, 0, len(s.candidate))
	for r := range keys {
		g := flat[start[r]:start[r+1]:start[r+1]]
		for _, k := range g {
			if s.candidate[k] != notCandidate {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
