package nginx

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
)

// fileSet is every value Rewrite reads from one ConfigMap: the values that
// mention proxy_pass (candidates) and the values connected to them by include.
type fileSet struct {
	all       map[string]string // the ConfigMap's values
	maxBytes  int
	parsed    map[string]*file
	candidate map[string]bool
	skipped   map[string]bool
	edges     map[string][]string // includer -> included keys, deduplicated
	included  map[string]bool     // keys some parsed value includes
	resolved  map[string][]string // include pattern -> matching keys
}

// load parses the candidates, the values that may include them (those
// mentioning "include") and, transitively, the values they include. A
// candidate that cannot be parsed is reported in res; any other value that
// cannot be parsed is simply not nginx config, and including it is an
// include of unknown content.
func load(ctx context.Context, all map[string]string, maxBytes int, res *Result) *fileSet {
	s := &fileSet{
		all: all, maxBytes: maxBytes,
		parsed: map[string]*file{}, candidate: map[string]bool{}, skipped: map[string]bool{},
		edges: map[string][]string{}, included: map[string]bool{}, resolved: map[string][]string{},
	}
	var queue []string
	for k, v := range all {
		if NeedsLook(v) {
			s.candidate[k] = true
		}
		if NeedsLook(v) || strings.Contains(v, "include") {
			queue = append(queue, k)
		}
	}
	sort.Strings(queue)
	tried := map[string]bool{}
	for len(queue) > 0 {
		k := queue[0]
		queue = queue[1:]
		if tried[k] {
			continue
		}
		tried[k] = true
		if ctx.Err() != nil {
			s.skip(k, reasonDeadline, res)
			continue
		}
		f, reason := s.parseOne(k)
		if f == nil {
			s.skip(k, reason, res)
			continue
		}
		s.parsed[k] = f
		for i := range f.nodes {
			if f.nodes[i].name != "include" {
				continue
			}
			for _, inc := range s.resolve(f, int32(i)) {
				if !tried[inc] {
					queue = append(queue, inc)
				}
			}
		}
	}
	if ctx.Err() != nil {
		for k := range s.candidate {
			s.skip(k, reasonDeadline, res)
		}
		return nil
	}
	s.link()
	return s
}

// parseOne parses one value, or says why it cannot be analysed.
func (s *fileSet) parseOne(k string) (*file, string) {
	v := s.all[k]
	if len(v) > s.maxBytes {
		return nil, fmt.Sprintf("value is %d bytes, over the %d-byte limit", len(v), s.maxBytes)
	}
	f, err := parse(k, v)
	if err != nil {
		return nil, "not analysable as nginx config: " + err.Error()
	}
	return f, ""
}

// skip records that candidate k is left alone; non-candidates are dropped silently.
func (s *fileSet) skip(k, reason string, res *Result) {
	if s.candidate[k] && !s.skipped[k] {
		s.skipped[k] = true
		res.Skipped = append(res.Skipped, Skip{File: k, Reason: reason})
	}
}

// resolve returns the keys an include directive of f names, matching the
// base name of its path against the keys: a ConfigMap's keys are file names
// and it is mounted as a directory, so "include /etc/nginx/conf.d/*.conf;"
// and "include conf.d/*.conf;" both mean the keys ending in ".conf". A value
// never includes itself this way; a glob over its own directory does not
// mean that.
func (s *fileSet) resolve(f *file, n int32) []string {
	a, ok := f.arg(n)
	if !ok {
		return nil
	}
	pattern := path.Base(f.val(a))
	keys, ok := s.resolved[pattern]
	if !ok {
		if strings.ContainsAny(pattern, "*?[") {
			for k := range s.all {
				if m, err := path.Match(pattern, k); err == nil && m {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
		} else if _, ok := s.all[pattern]; ok {
			keys = []string{pattern}
		}
		s.resolved[pattern] = keys
	}
	out := keys[:0:0]
	for _, k := range keys {
		if k != f.key {
			out = append(out, k)
		}
	}
	return out
}

// link records the include edges between parsed values.
func (s *fileSet) link() {
	for _, k := range sortedKeys(s.parsed) {
		f := s.parsed[k]
		seen := map[string]bool{}
		for i := range f.nodes {
			if f.nodes[i].name != "include" {
				continue
			}
			for _, inc := range s.resolve(f, int32(i)) {
				if s.parsed[inc] != nil && !seen[inc] {
					seen[inc] = true
					s.edges[k] = append(s.edges[k], inc)
					s.included[inc] = true
				}
			}
		}
	}
}

// components groups the parsed values into sets joined by includes, keeping
// only the sets that hold a candidate: each set is rewritten as a whole.
func (s *fileSet) components() [][]string {
	parent := map[string]string{}
	var find func(string) string
	find = func(k string) string {
		for parent[k] != "" && parent[k] != k {
			k = parent[k]
		}
		return k
	}
	for k := range s.parsed {
		parent[k] = k
	}
	for from, tos := range s.edges {
		for _, to := range tos {
			a, b := find(from), find(to)
			if a != b {
				if b < a {
					a, b = b, a
				}
				parent[b] = a
			}
		}
	}
	groups := map[string][]string{}
	for _, k := range sortedKeys(s.parsed) {
		r := find(k)
		groups[r] = append(groups[r], k)
	}
	var out [][]string
	for _, r := range sortedKeys(groups) {
		for _, k := range groups[r] {
			if s.candidate[k] {
				out = append(out, groups[r])
				break
			}
		}
	}
	return out
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
