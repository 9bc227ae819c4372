package nginx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// crossplaneTokens renders crossplane.Lex's stream in a comparable form.
func crossplaneTokens(src string) []string {
	var out []string
	for t := range crossplane.Lex(strings.NewReader(src)) {
		if t.Error != nil {
			line := 0
			var perr *crossplane.ParseError
			if errors.As(t.Error, &perr) && perr.Line != nil {
				line = *perr.Line
			}
			out = append(out, fmt.Sprintf("error %d", line))
			continue
		}
		out = append(out, fmt.Sprintf("%d %t %q", t.Line, t.IsQuoted, t.Value))
	}
	return out
}

// ownTokens renders lex's result in the same form as crossplaneTokens.
func ownTokens(src string) []string {
	l, err := lex(context.Background(), src)
	var out []string
	for i, t := range l.toks {
		out = append(out, fmt.Sprintf("%d %t %q", t.line, t.quoted(), l.val(int32(i))))
	}
	if err != nil {
		var lerr *lexError
		if errors.As(err, &lerr) {
			out = append(out, fmt.Sprintf("error %d", lerr.line))
		}
	}
	return out
}

// sameAsCrossplane fails t when lex and crossplane.Lex disagree on src.
func sameAsCrossplane(t *testing.T, name, src string) {
	t.Helper()
	want, got := crossplaneTokens(src), ownTokens(src)
	n := min(len(want), len(got))
	for i := 0; i < n; i++ {
		if want[i] != got[i] {
			t.Fatalf("%s: token %d: crossplane %s, lex %s", name, i, want[i], got[i])
		}
	}
	if len(want) != len(got) {
		t.Fatalf("%s: crossplane yields %d tokens, lex %d (first extra: %v)", name, len(want), len(got), append(want[n:], got[n:]...)[0])
	}
}

// spansMatchValues checks that every token's span holds the raw text its
// value came from: where no CR, escape or invalid UTF-8 is involved, the
// value is exactly the raw text (without the quotes of a quoted token).
func spansMatchValues(t *testing.T, name, src string) {
	t.Helper()
	l, _ := lex(context.Background(), src)
	prevEnd := 0
	for i, tk := range l.toks {
		start, end, val := int(tk.start), int(tk.end), l.val(int32(i))
		if start < prevEnd || end < start || end > len(src) {
			t.Fatalf("%s: token %d %q has span [%d,%d) after %d", name, i, val, start, end, prevEnd)
		}
		raw := src[start:end]
		if tk.quoted() {
			raw = raw[1:]
			if tk.flags&tokOpen == 0 {
				if raw[len(raw)-1] != src[start] {
					t.Fatalf("%s: token %d: closed quoted token %q ends with %q", name, i, val, raw)
				}
				raw = raw[:len(raw)-1]
			}
		}
		clean := !strings.ContainsAny(raw, "\r\\") && utf8.ValidString(raw)
		if clean && raw != val || clean == (tk.flags&tokDirty != 0) && clean {
			t.Fatalf("%s: token %d: value %q, raw %q, flags %b", name, i, val, raw, tk.flags)
		}
		prevEnd = end
	}
}

// lexCases are inputs that exercise crossplane's lexing quirks.
func lexCases() map[string]string {
	return map[string]string{
		"simple directive":            "proxy_pass http://x;\n",
		"block":                       "location / {\n  proxy_pass http://x;\n}\n",
		"comment after directive":     "a b; # c\n",
		"hash inside word":            "a b#c;\n",
		"hash after quote":            `a "b"#c` + "\n;",
		"quotes":                      `a "b c" 'd e' "f\"g" 'h\'i' "j\\k";` + "\n",
		"quote inside word":           `a b"c d;` + "\n",
		"empty quotes":                `a "" '';`,
		"variable braces":             "log_format x '${request_time}' ${request_time} ${a b};\n",
		"variable braces to newline":  "a ${x\ny};\n",
		"escaped specials":            `a \; \{ \} \" \\;` + "\n",
		"escaped newline":             "a b\\\nc;\n",
		"escaped newline in comment":  "# a \\\nb;\n",
		"crlf":                        "a b;\r\nc {\r\n d \"e\r\nf\";\r\n}\r\n",
		"stray cr":                    "a b\rc;\n",
		"cr after backslash":          "a \\\r\nb;\n",
		"tabs":                        "\ta\tb;\n",
		"no trailing newline":         "a b;",
		"unicode":                     "# “quote”\na \"ü\" ü;\n",
		"unicode space":               "a\u00a0b\u2003c;\n",
		"invalid utf8":                "a \xff\xfe b\xc3;\n",
		"duplicate semicolon":         "a;;\n",
		"brace after semicolon":       "a; {\n",
		"unbalanced close":            "}\n",
		"unbalanced open":             "a {\n",
		"close after close":           "a { b { } } }\n",
		"unterminated quote":          "a \"b;\n",
		"unterminated empty quote":    "a \"",
		"lone backslash at eof":       "a \\",
		"word then brace":             "location /{proxy_pass http://x;}",
		"dollar brace after escape":   "a \\${b};",
		"comment at eof":              "a b;\n# end",
		"semicolon then brace close":  "a { b; }",
		"form feed and vertical tab":  "a\fb\vc;",
		"quote right after word end":  "a 'b'c;",
		"nested var with quote":       "a ${b\"c};",
		"brace in var":                "a ${b{c};",
		"next line after var newline": "a ${\n} b;\n",
	}
}

func TestLexMatchesCrossplane(t *testing.T) {
	for name, src := range lexCases() {
		t.Run(name, func(t *testing.T) {
			sameAsCrossplane(t, name, src)
			spansMatchValues(t, name, src)
		})
	}
	for name, src := range goldenAndCorpusInputs(t) {
		sameAsCrossplane(t, name, src)
		spansMatchValues(t, name, src)
	}
}
