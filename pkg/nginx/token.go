package nginx

import (
	"unicode"
	"unicode/utf8"
)

// token is one lexical token of nginx configuration: its byte span in the
// source, which crossplane does not give and minimal edits need, and the line
// and quoting that crossplane.Lex reports for it. It holds no pointer, so a
// long token slice costs the garbage collector nothing to scan.
type token struct {
	start int32 // offset of the first byte (the opening quote of a quoted token)
	end   int32 // offset just past the last byte (the closing quote, if any)
	line  int32
	flags uint8
}

const (
	tokQuoted  uint8 = 1 << iota
	tokComment       // an unquoted token starting with '#'
	tokDirty         // the value is not the raw text: see lexed.vals
	tokOpen          // a quoted token cut off by the end of the input
)

func (t *token) quoted() bool  { return t.flags&tokQuoted != 0 }
func (t *token) comment() bool { return t.flags&tokComment != 0 }

// lexed is the token stream of one source.
type lexed struct {
	src  string
	toks []token
	vals map[int32]string // the values that differ from their raw text, by token index
}

// val returns the value of token i as crossplane.Lex reports it.
func (l *lexed) val(i int32) string {
	t := &l.toks[i]
	if t.flags&tokDirty != 0 {
		return l.vals[i]
	}
	start, end := t.start, t.end
	if t.quoted() {
		start++
		if t.flags&tokOpen == 0 {
			end--
		}
	}
	return l.src[start:end]
}

// special reports whether token i is an unquoted '{', '}' or ';'.
func (l *lexed) special(i int32) bool {
	t := &l.toks[i]
	if t.end-t.start != 1 || t.flags&(tokQuoted|tokDirty) != 0 {
		return false
	}
	c := l.src[t.start]
	return c == '{' || c == '}' || c == ';'
}

// is reports whether token i is the unquoted special token c.
func (l *lexed) is(i int32, c byte) bool {
	return l.special(i) && l.src[l.toks[i].start] == c
}

// runEnd returns the end of the run of bytes from pos for which ok holds.
func runEnd(src string, pos int, ok func(c, quote byte) bool, quote byte) int {
	for pos < len(src) && ok(src[pos], quote) {
		pos++
	}
	return pos
}

// wordByte: an ASCII byte that extends a word and nothing else.
func wordByte(c, _ byte) bool {
	return c > ' ' && c < utf8.RuneSelf && c != '{' && c != '}' && c != ';' && c != '"' && c != '\'' && c != '\\'
}

// commentByte: an ASCII byte that extends a comment and nothing else.
func commentByte(c, _ byte) bool {
	return c < utf8.RuneSelf && c != '\n' && c != '\r' && c != '\\'
}

// quoteByte: an ASCII byte that extends a quoted string and nothing else.
func quoteByte(c, quote byte) bool {
	return c < utf8.RuneSelf && c != quote && c != '\n' && c != '\r' && c != '\\'
}

// isSpace is crossplane's isSpace (strings.TrimSpace of one rune is empty).
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || r >= '\t' && r <= '\r'
	}
	return unicode.IsSpace(r)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
