package nginx

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// walker plans the edits for one set of values joined by includes.
type walker struct {
	ctx      context.Context
	set      *fileSet
	next     []*file // values parsed again after the rewrite, by key, in place of set.parsed
	stack    []*file // values being expanded by include, outermost first
	stackBuf [maxIncludeDepth]*file
	visits   int
	left     *int // directive visits left to the walks of this pass (fileSet.walkLeft)
	limit    int  // what *left started at, for the message
	err      *problem
	inserts  []insertion
	insSeen  map[site]bool
	rewr     []site // proxy_http_version 1.0 directives to switch
	rewSeen  map[site]string
	scopes   []scope // where new scopes come from, a chunk at a time
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

// newWalker returns a walker over the values of set, with the values of next
// in place of the ones parsed first; pass 0 is the analysis, pass 1 the
// check of its result. The walkers of one pass share one budget of visits,
// so many small components that each fan out cannot add up to more than one
// large one. They share their memory too: the walker of a pass is reset for
// each component, since a ConfigMap of many small values would otherwise
// spend most of its time allocating and collecting walkers.
func newWalker(ctx context.Context, set *fileSet, next []*file, pass int) *walker {
	w := &set.walkers[pass]
	*w = walker{
		ctx: ctx, set: set, next: next, left: &set.walkLeft[pass], limit: set.walkLimit,
		inserts: w.inserts[:0], rewr: w.rewr[:0], scopes: w.scopes[:0],
		insSeen: reuse(w.insSeen), rewSeen: reuse(w.rewSeen),
	}
	w.stack = w.stackBuf[:0]
	return w
}

// reuse returns m emptied, or nil when it grew large: clearing a map costs
// as much as its largest size, which a small component must not pay.
func reuse[V any](m map[site]V) map[site]V {
	if len(m) > 64 {
		return nil
	}
	clear(m)
	return m
}

// file returns the value of key k as this walk sees it.
func (w *walker) file(k string) *file {
	if i, ok := slices.BinarySearchFunc(w.next, k, func(f *file, k string) int { return strings.Compare(f.key, k) }); ok {
		return w.next[i]
	}
	return w.set.parsed[k]
}

func (w *walker) fail(f *file, n int32, format string, args ...any) {
	if w.err == nil {
		w.err = &problem{key: f.key, line: f.line(n), msg: fmt.Sprintf(format, args...)}
	}
}

// tick counts one directive visit and says whether to go on.
func (w *walker) tick(f *file, n int32) bool {
	w.visits++
	if *w.left--; *w.left < 0 {
		w.fail(f, n, "includes expand to more than %d directives", w.limit)
	} else if w.visits&4095 == 0 && w.ctx.Err() != nil {
		w.fail(f, n, "%s", reasonDeadline)
	}
	return w.err == nil
}

// newScope returns a pointer to a copy of s. Scopes are taken from chunks:
// one allocation per block was a large part of the cost of a value of many
// small blocks. A chunk is never grown, so the pointers stay valid; the next
// one is twice as large, up to 256, so a small value pays for a small one.
func (w *walker) newScope(s scope) *scope {
	if len(w.scopes) == cap(w.scopes) {
		w.scopes = make([]scope, 0, min(256, max(4, 2*cap(w.scopes))))
	}
	w.scopes = append(w.scopes, s)
	return &w.scopes[len(w.scopes)-1]
}
