package convert

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Longest names: a DNS-1123 label (listener names) and subdomain (object
// names).
const (
	maxLabel     = 63
	maxSubdomain = 253
)

// sanitize turns s into lower-case letters, digits, '-' and (with dots)
// '.', trimmed so that it starts and ends with a letter or digit; "*"
// becomes "wildcard".
func sanitize(s string, dots bool) string {
	s = strings.ReplaceAll(strings.ToLower(s), "*", "wildcard")
	b := []byte(s)
	for i, ch := range b {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '-':
		case ch == '.' && dots:
		default:
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-.")
}

// fit shortens name to max characters, keeping it unique with a hash of the
// whole name.
func fit(name string, max int) string {
	if len(name) <= max {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	sum := fmt.Sprintf("%08x", h.Sum32())
	return strings.TrimRight(name[:max-len(sum)-1], "-.") + "-" + sum
}

// namer hands out names that are unique within one scope.
type namer map[string]bool

// take returns base, or base-2, base-3, … when taken, within max characters.
func (n namer) take(base string, max int) string {
	name := fit(base, max)
	for i := 2; n[name]; i++ {
		suffix := "-" + strconv.Itoa(i)
		name = fit(base, max-len(suffix)) + suffix
	}
	n[name] = true
	return name
}
