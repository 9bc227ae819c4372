package yamlpatch

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// isScalarValue reports values written on one line: scalars and empty
// collections.
func isScalarValue(v any) bool {
	switch vv := v.(type) {
	case map[string]any:
		return len(vv) == 0
	case []any:
		return len(vv) == 0
	}
	return true
}

// scalar writes a one-line value, keeping the quoting style of the value it
// replaces when the new value allows it.
func (e *editor) scalar(v any, style yaml.Style, flow bool) string {
	switch vv := v.(type) {
	case nil:
		return "null"
	case bool:
		if vv {
			return "true"
		}
		return "false"
	case json.Number:
		return vv.String()
	case map[string]any:
		return "{}"
	case []any:
		return "[]"
	case string:
		switch {
		case e.json || style&yaml.DoubleQuotedStyle != 0:
			return jsonString(vv)
		case style&yaml.SingleQuotedStyle != 0 && printable(vv) && !strings.ContainsAny(vv, "\n\r\t"):
			return "'" + strings.ReplaceAll(vv, "'", "''") + "'"
		case plainSafe(vv, flow):
			return vv
		}
		return jsonString(vv)
	}
	return jsonString(jsonText(v))
}

// key writes a mapping key.
func (e *editor) key(k string) string {
	if !e.json && plainSafe(k, false) {
		return k
	}
	return jsonString(k)
}

func (e *editor) flowKey(k string) string {
	if !e.json && plainSafe(k, true) {
		return k
	}
	return jsonString(k)
}

// flowValue writes a value inside brackets (or a JSON document) as JSON,
// which is valid YAML flow: indented across lines when the surroundings are.
func (e *editor) flowValue(v any, col int, multi bool) string {
	if isScalarValue(v) {
		return e.scalar(v, 0, true)
	}
	if multi {
		b, _ := marshal(v, spaces(col), spaces(e.unit))
		return strings.ReplaceAll(string(b), "\n", e.nl)
	}
	var b strings.Builder
	writeCompact(&b, v)
	return b.String()
}

// writeCompact writes JSON with a space after ',' and ':', as people write
// flow collections.
func writeCompact(b *strings.Builder, v any) {
	switch vv := v.(type) {
	case map[string]any:
		b.WriteString("{")
		for i, k := range slices.Sorted(maps.Keys(vv)) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(jsonString(k) + ": ")
			writeCompact(b, vv[k])
		}
		b.WriteString("}")
	case []any:
		b.WriteString("[")
		for i, it := range vv {
			if i > 0 {
				b.WriteString(", ")
			}
			writeCompact(b, it)
		}
		b.WriteString("]")
	default:
		b.WriteString(jsonText(v))
	}
}

// afterKey writes what follows "key:" in a block mapping whose keys sit at col.
func (e *editor) afterKey(v any, col int) string {
	switch vv := v.(type) {
	case map[string]any:
		if len(vv) > 0 {
			return e.nl + spaces(col+e.unit) + e.blockMap(vv, col+e.unit)
		}
	case []any:
		if len(vv) > 0 {
			return e.nl + spaces(col+e.seqOffset) + e.blockSeq(vv, col+e.seqOffset)
		}
	case string:
		if lit, ok := e.literal(vv, col+e.unit, false); ok {
			return " " + lit
		}
	}
	return " " + e.scalar(v, 0, false)
}

// item writes a value after "- ", its content starting at col.
func (e *editor) item(v any, col int) string {
	switch vv := v.(type) {
	case map[string]any:
		if len(vv) > 0 {
			return e.blockMap(vv, col)
		}
	case []any:
		if len(vv) > 0 {
			return e.blockSeq(vv, col)
		}
	case string:
		if lit, ok := e.literal(vv, col, false); ok {
			return lit
		}
	}
	return e.scalar(v, 0, false)
}

// blockMap writes a mapping whose keys sit at col; the first line carries no
// indentation, as the text before it provides it.
func (e *editor) blockMap(m map[string]any, col int) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(e.nl + spaces(col))
		}
		b.WriteString(e.key(k) + ":" + e.afterKey(m[k], col))
	}
	return b.String()
}

// blockSeq writes a sequence whose dashes sit at col, first line unindented.
func (e *editor) blockSeq(items []any, col int) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteString(e.nl + spaces(col))
		}
		b.WriteString("- " + e.item(it, col+2))
	}
	return b.String()
}

// literal writes a string as a literal block scalar ("|") whose lines sit at
// col, when the text can be one; single lines only when always is set (the
// value replaces a literal).
func (e *editor) literal(s string, col int, always bool) (string, bool) {
	if s == "" || (!always && !strings.Contains(strings.TrimRight(s, "\n"), "\n")) || !literalSafe(s) {
		return "", false
	}
	// The first line with text sets the indentation, so it must not start
	// with a space (that would need an indentation indicator).
	if first := strings.TrimLeft(s, "\n"); strings.HasPrefix(first, " ") {
		return "", false
	}
	body := strings.TrimRight(s, "\n")
	var b strings.Builder
	b.WriteString("|" + chomping(len(s)-len(body)))
	for _, l := range strings.Split(body, "\n") {
		b.WriteString(e.nl)
		if l != "" {
			b.WriteString(spaces(col) + l)
		}
	}
	for range len(s) - len(body) - 1 {
		b.WriteString(e.nl)
	}
	return b.String(), true
}

// chomping is the indicator that keeps exactly n trailing line breaks.
func chomping(n int) string {
	switch n {
	case 0:
		return "-"
	case 1:
		return ""
	}
	return "+"
}

// literalSafe reports text a literal block can hold: printable, without
// carriage returns, and without lines of only spaces before the first line
// with text (they would be read as deeper than the indentation).
func literalSafe(s string) bool {
	if !printable(s) || strings.ContainsRune(s, '\r') {
		return false
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimLeft(l, " \t") != "" {
			break
		}
		if l != "" {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for _, r := range s {
		if r != '\n' && r != '\t' && (!unicode.IsPrint(r) && r != ' ' || r == '\uFEFF') {
			return false
		}
	}
	return true
}

// plainSafe reports whether s can be written unquoted and still read back as
// the same string, under YAML 1.2 (this package's parser) and YAML 1.1 (the
// one kubectl uses, where yes, on and the like are booleans).
func plainSafe(s string, flow bool) bool {
	if s == "" || s != strings.TrimSpace(s) || strings.ContainsAny(s, "\n\r\t") || !printable(s) {
		return false
	}
	if flow && strings.ContainsAny(s, ",[]{}") {
		return false
	}
	var m map[string]any
	if yaml.Unmarshal([]byte("k: "+s), &m) != nil || m["k"] != s {
		return false
	}
	j, err := sigsyaml.YAMLToJSON([]byte("k: " + s))
	return err == nil && string(j) == `{"k":`+jsonString(s)+`}`
}

// jsonString quotes s as JSON, which is also a valid YAML double-quoted
// scalar.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func jsonText(v any) string {
	b, _ := marshal(v, "", "")
	return string(b)
}

// marshal is json.MarshalIndent without HTML escaping.
func marshal(v any, prefix, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, indent)
	err := enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}
