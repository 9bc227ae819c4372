// Package nginx finds where nginx would proxy to an HTTP upstream with
// HTTP/1.0 and makes the smallest text edits that switch it to HTTP/1.1.
//
// Istio's Envoy sidecar answers HTTP/1.0 requests with "426 Upgrade
// Required", and nginx before 1.29.7 speaks HTTP/1.0 to proxy_pass upstreams
// unless proxy_http_version says otherwise. Rewrite works on the values of
// one ConfigMap: it follows includes between them, rewrites an effective
// "proxy_http_version 1.0;" in place and otherwise inserts
// "proxy_http_version 1.1;" into the location that proxies, leaving every
// other byte as it was, so the result diffs cleanly against the user's copy.
package nginx

import (
	"cmp"
	"context"
	"slices"
	"strings"
)

// DefaultMaxBytes is the size above which a value is skipped when
// Options.MaxBytes is zero. It is far above any ConfigMap the API server
// stores (about 1 MiB) and only guards direct callers.
const DefaultMaxBytes = 4 << 20

// Edit is one textual change made to one value.
type Edit struct {
	// File is the ConfigMap key of the value.
	File string
	// Line is the 1-based line in the original text where the change
	// happens. For a rewrite it is the line of the version token. For an
	// insertion it is the line of the directive the new one is placed in
	// front of: on a line of its own just above that line when the
	// directive starts its line, otherwise on that same line, right before
	// the directive (one-line blocks such as "location / { proxy_pass …; }").
	Line int
	// Old is "" for an insertion, else the original directive text, e.g.
	// "proxy_http_version 1.0;".
	Old string
	// New is the directive text after the change, e.g. "proxy_http_version 1.1;".
	New string
	// Reason says briefly why the block needed it, e.g.
	// "proxy_pass http://backend in location /api".
	Reason string
}

// Skip says why a value was left alone.
type Skip struct {
	File, Reason string
	// Valid says the value is nginx configuration that could not be
	// analysed safely (a Lua or unknown block, an include cycle); false
	// means it is not nginx configuration (most often text that merely
	// mentions proxy_pass) or was not reached.
	Valid bool
}

// Result is the outcome of rewriting the values of one ConfigMap.
type Result struct {
	// Changed maps a key to its new full value, only for keys that change.
	Changed map[string]string
	// Edits lists every change, sorted by File, then Line.
	Edits []Edit
	// Skipped lists values that mention proxy_pass but could not be
	// analysed safely (not nginx config, parse error, too large, deadline).
	Skipped []Skip
}

// Options bound the work.
type Options struct {
	// MaxBytes skips values larger than this; 0 means DefaultMaxBytes.
	MaxBytes int
}

// NeedsLook reports cheaply (a substring test) whether a value can hold a
// proxy_pass to fix; a ConfigMap none of whose values needs a look is never
// parsed. Pass every value of the ConfigMap to Rewrite all the same: when
// one value needs a look, the values it includes or that include it are read
// too, and an effective "proxy_http_version 1.0;" written in one of them is
// switched where it is written, so such a value can change as well.
func NeedsLook(value string) bool {
	return strings.Contains(value, "proxy_pass")
}

// Rewrite analyses the values of one ConfigMap (key -> value) and returns the
// minimal edits that make every HTTP proxy_pass use HTTP/1.1.
//
// Values that include one another are rewritten together, and either all of
// them change or none does; a value is never returned partially rewritten.
// Every result is lexed and analysed again before it is returned, and must
// need no further edit. ctx carries the request's time budget, and the work
// looks at it as it goes (every 64 KiB lexed, every few thousand tokens
// parsed or directives walked, between values): once it is done Rewrite
// stops within about a millisecond of work and reports the values it has
// not finished as Skipped. The work is linear in the size of the values.
func Rewrite(ctx context.Context, files map[string]string, opts Options) Result {
	res := Result{}
	look := false
	for _, v := range files {
		look = look || NeedsLook(v)
	}
	if !look {
		return res
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	set := load(ctx, files, opts.MaxBytes, &res)
	if set == nil {
		return finish(res)
	}
	for _, comp := range set.components() {
		if ctx.Err() != nil {
			set.skipUnfinished(comp, &res, reasonDeadline)
			continue
		}
		set.rewriteComponent(ctx, comp, &res)
	}
	return finish(res)
}

const reasonDeadline = "time budget ran out before this value was analysed"

// finish sorts the result into its documented order. The edits mostly come
// in that order already, and checking is cheaper than a stable sort of tens
// of thousands of them.
func finish(res Result) Result {
	byFileLine := func(a, b Edit) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	}
	if !slices.IsSortedFunc(res.Edits, byFileLine) {
		slices.SortStableFunc(res.Edits, byFileLine)
	}
	byFile := func(a, b Skip) int { return strings.Compare(a.File, b.File) }
	if !slices.IsSortedFunc(res.Skipped, byFile) {
		slices.SortStableFunc(res.Skipped, byFile)
	}
	return res
}
