package nginx

import (
	"path"
	"sort"
	"strings"
)

// resolve returns the keys an include directive of f names, matching the
// base name of its path against the keys: a ConfigMap's keys are file names
// and it is mounted as a directory, so "include /etc/nginx/conf.d/*.conf;"
// and "include conf.d/*.conf;" both mean the keys ending in ".conf". The
// result may hold f's own key; callers leave it out, since a value never
// includes itself this way (a glob over its own directory does not mean
// that). The slice is shared: callers must not change it.
//
// Each distinct glob is matched against every key once, and what that and
// the answer cost is added to s.work: a ConfigMap of many values that each
// include a glob of their own would otherwise cost keys × values. Only load
// meets a glob for the first time, and stops once s.work passes the limit;
// every later call finds its pattern resolved, since a value parsed again
// after the rewrite has the same include directives.
func (s *fileSet) resolve(f *file, n int32) []string {
	keys, _ := s.resolvePattern(f, n)
	return keys
}

// resolvePattern is resolve, also returning the pattern matched.
func (s *fileSet) resolvePattern(f *file, n int32) ([]string, string) {
	a, ok := f.arg(n)
	if !ok {
		return nil, ""
	}
	pattern := path.Base(f.val(a))
	keys, ok := s.resolved[pattern]
	if !ok {
		if strings.ContainsAny(pattern, "*?[") {
			if s.allKeys == nil {
				s.allKeys = s.sortedAll()
			}
			least := minMatch(pattern)
			for _, k := range s.allKeys {
				s.work++
				if len(k) < least {
					continue // too short to match: path.Match need not read the pattern
				}
				// path.Match reads the whole pattern at least once, and
				// tries each star's chunk at every offset of the key: up to
				// len(pattern)×len(key) byte comparisons
				s.work += len(pattern) + len(pattern)*len(k)/16
				if s.work > s.workLimit {
					return nil, pattern
				}
				if m, err := path.Match(pattern, k); err == nil && m {
					keys = append(keys, k)
				}
			}
		} else if _, ok := s.all[pattern]; ok {
			keys = []string{pattern}
		}
		s.resolved[pattern] = keys
	}
	s.work += len(keys)
	return keys, pattern
}

// minMatch returns how many bytes a name needs at least to match the glob
// pattern: a literal byte, "?" or a class each take one or more, "*" none.
// (For a malformed pattern any answer will do: path.Match matches nothing.)
func minMatch(pattern string) int {
	n := 0
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*':
			continue
		case '\\':
			i++
		case '[':
			for i++; i < len(pattern) && pattern[i] != ']'; i++ {
				if pattern[i] == '\\' {
					i++
				}
			}
		}
		n++
	}
	return n
}

// incl is what one include directive names.
type incl struct {
	keys    []string // the parsed values it names, the includer left out
	unknown bool     // it names nothing here, or something that is not nginx config
	glob    bool     // its path has a wildcard, so it may name keys by chance
}

// includes returns what include directive n of f names, working it out once
// per directive: the walk meets a directive once per include site of its
// file. Only valid once load has finished.
func (s *fileSet) includes(f *file, n int32) incl {
	if in, ok := f.incs[n]; ok {
		return in
	}
	var in incl
	named := 0
	for _, k := range s.resolve(f, n) {
		if k == f.key {
			continue
		}
		named++
		if s.parsed[k] != nil {
			in.keys = append(in.keys, k)
		}
	}
	in.unknown = named == 0 || len(in.keys) < named
	if a, ok := f.arg(n); ok {
		in.glob = strings.ContainsAny(path.Base(f.val(a)), "*?[")
	}
	if f.incs == nil {
		f.incs = map[int32]incl{}
	}
	f.incs[n] = in
	return in
}

// sortedAll returns every key of the ConfigMap, sorted: a slice rather than
// the map, so matches come out sorted and keys are read in a row. The keys
// load sorted already are merged with the others, not sorted again.
func (s *fileSet) sortedAll() []string {
	sort.Strings(s.rest)
	out := make([]string, 0, len(s.initial)+len(s.rest))
	a, b := s.initial, s.rest
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}
