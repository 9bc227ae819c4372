package policy

import (
	"fmt"
	"strings"
)

// Pointer builds the JSON pointer (RFC 6901) of the given tokens, escaping
// each: "~" as "~0", then "/" as "~1". Rules build patch paths with it, so
// a ConfigMap key or annotation holding "/" or "~" addresses itself.
func Pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// SplitPointer is Pointer's inverse: the unescaped tokens of a JSON pointer
// ("~1" read as "/", then "~0" as "~"); "" is the whole document.
func SplitPointer(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%q is not a JSON pointer", path)
	}
	tokens := strings.Split(path[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}
