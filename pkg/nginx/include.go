package nginx

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// fileSet is every value Rewrite reads from one ConfigMap: the values that
// mention proxy_pass (candidates) and the values connected to them by include.
type fileSet struct {
	all       map[string]string // the ConfigMap's values
	allKeys   []string          // of all, sorted, once a glob needs them
	maxBytes  int
	parsed    map[string]*file
	keys      []string // of parsed, sorted
	initial   []string // the candidates and the values mentioning include, sorted
	rest      []string // the other keys, sorted once a glob needs them
	candidate map[string]candidate
	edges     map[string][]string // includer -> included keys, deduplicated
	included  map[string]bool     // keys some parsed value includes
	resolved  map[string][]string // include pattern -> matching keys, sorted
	opaque    map[string]bool     // keys that are nginx config the parser does not look into (Lua)

	// work counts what resolving includes has cost (keys a glob was matched
	// against, keys an include named); past workLimit the set is not analysed.
	work, workLimit int
	// walkLimit bounds the directive visits of all walkers of one pass over
	// the set; walkLeft is what is left of it for the analysis and the check.
	walkLimit int
	walkLeft  [2]int
	walkers   [2]walker // see newWalker
}

// minIncludeWork is the include-resolution budget of a small ConfigMap; a
// larger one gets one unit per byte. Following an include to a key costs a
// unit, matching a glob against a key about a unit per byte of the pattern
// (more against a long key, one in all against a key too short to match),
// so every value may include every other one in a ConfigMap of up to about
// two hundred values, and beyond that the work stays proportional to the
// input.
const minIncludeWork = 1 << 16

// load parses the candidates, the values that may include them (those
// mentioning "include") and, transitively, the values they include. A
// candidate that cannot be parsed is reported in res; any other value that
// cannot be parsed is simply not nginx config, and including it is an
// include of unknown content.
func load(ctx context.Context, all map[string]string, maxBytes int, res *Result) *fileSet {
	var queue, cands, rest []string
	size := 0
	for k, v := range all {
		size += len(k) + len(v)
		if look := NeedsLook(v); look || strings.Contains(v, "include") {
			queue = append(queue, k)
			if look {
				cands = append(cands, k)
			}
		} else {
			rest = append(rest, k)
		}
	}
	// sized up front: a ConfigMap may hold tens of thousands of values
	s := &fileSet{
		all: all, maxBytes: maxBytes,
		parsed: make(map[string]*file, len(queue)), candidate: make(map[string]candidate, len(cands)),
		edges: map[string][]string{}, included: map[string]bool{}, resolved: map[string][]string{},
		keys: make([]string, 0, len(queue)),
	}
	for _, k := range cands {
		s.candidate[k] = pending
	}
	s.workLimit = max(minIncludeWork, size)
	sort.Strings(queue)
	s.initial, s.rest = queue, rest
	// A key joins the queue once, however many includes name it, and the
	// keys of a pattern are looked at once, however many values include it.
	// The sets are made at the first include: most ConfigMaps have none.
	var queued, queuedAll map[string]bool
	for ; len(queue) > 0 && s.work <= s.workLimit; queue = queue[1:] {
		k := queue[0]
		if ctx.Err() != nil {
			break
		}
		f, reason := s.parseOne(ctx, k)
		if f == nil {
			if ctx.Err() != nil {
				reason = reasonDeadline
			}
			s.skip(k, reason, res)
			continue
		}
		s.parsed[k] = f
		s.keys = append(s.keys, k)
		for i := range f.nodes {
			if f.nodes[i].name != "include" {
				continue
			}
			keys, pattern := s.resolvePattern(f, int32(i))
			if queuedAll[pattern] {
				continue // every value the pattern names is queued already
			}
			for _, inc := range keys {
				if queued == nil {
					queued = make(map[string]bool, len(s.initial))
					for _, q := range s.initial {
						queued[q] = true
					}
				}
				if !queued[inc] {
					queued[inc] = true
					queue = append(queue, inc)
				}
			}
			if queuedAll == nil {
				queuedAll = map[string]bool{}
			}
			queuedAll[pattern] = true
		}
	}
	switch {
	case ctx.Err() != nil:
		s.skipAll(reasonDeadline, res)
		return nil
	case s.work > s.workLimit:
		s.skipAll(fmt.Sprintf("includes fan out to more than %d key matches, too many to follow", s.workLimit), res)
		return nil
	}
	if queued != nil {
		sort.Strings(s.keys) // keys found through includes came last
	}
	s.link()
	return s
}

// parseOne parses one value, or says why it cannot be analysed.
func (s *fileSet) parseOne(ctx context.Context, k string) (*file, string) {
	v := s.all[k]
	if len(v) > s.maxBytes {
		return nil, fmt.Sprintf("value is %d bytes, over the %d-byte limit", len(v), s.maxBytes)
	}
	f, err := parse(ctx, k, v)
	var opaque *opaqueError
	if errors.As(err, &opaque) {
		if s.opaque == nil {
			s.opaque = map[string]bool{}
		}
		s.opaque[k] = true
		return nil, err.Error()
	}
	if err != nil {
		return nil, "not analysable as nginx config: " + err.Error()
	}
	return f, ""
}

// candidate is where a value that mentions proxy_pass stands. (One map for
// both, sized once: a map of skipped values growing key by key cost more
// than the rest of skipping tens of thousands of them at the deadline.)
type candidate uint8

const (
	notCandidate candidate = iota
	pending
	skipped
)

// skip records that candidate k is left alone; non-candidates are dropped silently.
func (s *fileSet) skip(k, reason string, res *Result) {
	if s.candidate[k] == pending {
		s.candidate[k] = skipped
		res.Skipped = append(res.Skipped, Skip{File: k, Reason: reason, Valid: s.parsed[k] != nil || s.opaque[k]})
	}
}

// skipAll reports every candidate not yet reported as skipped for reason,
// in key order without sorting them again: when the budget has run out,
// sorting tens of thousands of keys is time it no longer has.
func (s *fileSet) skipAll(reason string, res *Result) {
	res.Skipped = slices.Grow(res.Skipped, len(s.candidate))
	for _, k := range s.initial {
		s.skip(k, reason, res)
	}
}

// link records the include edges between parsed values, and sets the
// budget of the walks: nodes of all parsed values, each visit of a value
// through an include counting again.
func (s *fileSet) link() {
	total := 0
	for _, k := range s.keys {
		f := s.parsed[k]
		total += len(f.nodes)
		seen := map[string]bool{}
		for i := range f.nodes {
			if f.nodes[i].name != "include" {
				continue
			}
			for _, inc := range s.includes(f, int32(i)).keys {
				if !seen[inc] {
					seen[inc] = true
					s.edges[k] = append(s.edges[k], inc)
					s.included[inc] = true
				}
			}
		}
	}
	// Includes make a value count once per include site; the limit allows a
	// generous amount of sharing and stops include fan-out that grows faster.
	s.walkLimit = max(1<<20, 16*total)
	s.walkLeft = [2]int{s.walkLimit, s.walkLimit}
}

// roots returns the values of a component that no other value includes:
// the ones nginx reads as whole files.
func (s *fileSet) roots(comp []string) []string {
	var out []string
	for _, k := range comp {
		if !s.included[k] {
			out = append(out, k)
		}
	}
	return out
}

// skipUnfinished reports the candidates of comp as skipped for reason.
func (s *fileSet) skipUnfinished(comp []string, res *Result, reason string) {
	for _, k := range comp {
		s.skip(k, reason, res)
	}
}
