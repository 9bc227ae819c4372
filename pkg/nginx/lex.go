package nginx

import (
	"context"
	"fmt"
	"unicode/utf8"
)

// lexError is a lexing failure, worded like crossplane's.
type lexError struct {
	what string
	line int
}

func (e *lexError) Error() string { return fmt.Sprintf("%s in line %d", e.what, e.line) }

type lexState uint8

const (
	skipSpace lexState = iota
	inWord
	inComment
	inVar
	inQuote
)

// lex tokenizes src exactly as crossplane.Lex (without extensions) does,
// quirks included: CRs vanish everywhere, escapes are kept verbatim except an
// escaped quote inside quotes, "${" starts a variable that runs to "}" or
// whitespace, a quote only opens a string at the start of a token, and
// invalid UTF-8 bytes read as U+FFFD. Staying identical to crossplane keeps
// "is nginx config" meaning the same thing as the upstream library; lexing
// here instead of calling crossplane.Lex (a rune channel, ~21 MB/s) keeps the
// admission path fast and gives byte offsets for in-place edits.
//
// ctx is checked every lexCheckEvery bytes, so a huge value stops soon after
// the request's time budget runs out; the error is then ctx.Err().
func lex(ctx context.Context, src string) (lexed, error) {
	lx := lexer{ctx: ctx, lexed: lexed{src: src, toks: make([]token, 0, len(src)/5+4)}}
	err := lx.run()
	return lx.lexed, err
}

// lexCheckEvery is how many bytes the lexer reads between two looks at the
// context: well under a millisecond of work.
const lexCheckEvery = 64 << 10

type lexer struct {
	lexed
	ctx context.Context
	buf []byte // the pending value, kept only once it differs from the raw bytes

	has      bool // the pending token has content
	dirty    bool // its value differs from its raw bytes (a CR dropped, a quote unescaped, bad UTF-8)
	last     byte // last byte of the pending value
	tokStart int  // first byte of the pending token
	lastEnd  int  // just past the raw bytes of the last unit added
	state    lexState
}

// add appends one lookahead unit (a rune, or a backslash and the rune it
// escapes, as crossplane sees it) whose raw bytes are src[laStart:laEnd].
// While the value equals its raw bytes nothing is copied.
func (lx *lexer) add(laStart, laEnd int, la string) {
	inTok := lx.has || lx.state == inQuote
	if !lx.dirty && (inTok && laStart != lx.lastEnd || laEnd-laStart != len(la)) {
		from := lx.tokStart
		if lx.state == inQuote {
			from++
		}
		lx.dirty = true
		lx.buf = lx.buf[:0]
		if inTok {
			lx.buf = append(lx.buf, lx.src[from:lx.lastEnd]...)
		}
	}
	if lx.dirty {
		lx.buf = append(lx.buf, la...)
	}
	if !inTok {
		lx.tokStart = laStart
	}
	lx.has = true
	lx.last = la[len(la)-1]
	lx.lastEnd = laEnd
}

func (lx *lexer) emit(line int, quoted bool, end int) {
	t := token{line: int32(line), start: int32(lx.tokStart), end: int32(end)}
	switch {
	case quoted:
		t.flags |= tokQuoted
		if end == lx.lastEnd && lx.state == inQuote {
			t.flags |= tokOpen
		}
	case lx.state == inComment:
		t.flags |= tokComment
	}
	if lx.dirty {
		t.flags |= tokDirty
		if lx.vals == nil {
			lx.vals = map[int32]string{}
		}
		lx.vals[int32(len(lx.toks))] = string(lx.buf)
	}
	lx.toks = append(lx.toks, t)
	lx.has, lx.dirty = false, false
	lx.state = skipSpace
}

//nolint:gocyclo // one state machine, kept in crossplane's shape so the two can be compared line by line
func (lx *lexer) run() error {
	src := lx.src
	var (
		tokenLine, tokenStartLine = 1, 1
		newToken, dupSpecial, esc bool
		depth, pos, escStart      int
		quote                     byte
		la                        string // the lookahead unit as crossplane sees it
		laStart, laEnd            int
		r                         rune
		laEsc                     bool
	)
	readNext := true
	checkAt := lexCheckEvery
	for {
		if pos >= checkAt {
			if err := lx.ctx.Err(); err != nil {
				return err
			}
			checkAt = pos + lexCheckEvery
		}
		if readNext && !esc {
			// Fast paths over runs of plain ASCII that the state machine
			// below would take one byte at a time with the same outcome.
			switch {
			case lx.state == skipSpace:
				for pos < len(src) && (src[pos] == ' ' || src[pos] == '\t' || src[pos] == '\n') {
					if src[pos] == '\n' {
						tokenLine++
					}
					pos++
				}
			case lx.state == inWord && lx.has && !newToken:
				if end := runEnd(src, pos, wordByte, 0); end > pos {
					lx.add(pos, end, src[pos:end])
					dupSpecial = false
					pos = end
				}
			case lx.state == inComment:
				if end := runEnd(src, pos, commentByte, 0); end > pos {
					lx.add(pos, end, src[pos:end])
					pos = end
				}
			case lx.state == inQuote:
				if end := runEnd(src, pos, quoteByte, quote); end > pos {
					lx.add(pos, end, src[pos:end])
					pos = end
				}
			}
		}
		if readNext {
			if pos >= len(src) {
				break
			}
			start, c, size := pos, src[pos], 1
			r = rune(c)
			if c >= utf8.RuneSelf {
				r, size = utf8.DecodeRuneInString(src[pos:])
			}
			pos += size
			if c == '\n' {
				tokenLine++
			}
			if c == '\r' {
				continue
			}
			if c == '\\' && !esc {
				esc, escStart = true, start
				continue
			}
			laEsc, laStart, laEnd = esc, start, pos
			if esc {
				esc, laStart = false, escStart
			}
			la = src[laStart:laEnd]
			if r == utf8.RuneError && size == 1 || laEsc && laStart+1 != start {
				// a byte crossplane reads as U+FFFD, or a CR between the
				// backslash and what it escapes: the unit is not its raw bytes
				la = string(utf8.AppendRune([]byte(la[:btoi(laEsc)]), r))
			}
		} else {
			readNext = true
		}
		plain := !laEsc // an unescaped single rune
		space := plain && isSpace(r)

		switch lx.state {
		case skipSpace:
			if !space {
				lx.state = inWord
				newToken = true
				readNext = false
				tokenStartLine = tokenLine
			}
			continue
		case inWord:
			if newToken {
				newToken = false
				if plain && r == '#' {
					lx.state = inComment
					lx.add(laStart, laEnd, la)
					tokenStartLine = tokenLine
					continue
				}
			}
			if space {
				lx.emit(tokenStartLine, false, lx.lastEnd)
				continue
			}
			if lx.has && lx.last == '$' && plain && r == '{' {
				lx.add(laStart, laEnd, la)
				lx.state = inVar
				dupSpecial = false
				continue
			}
			if plain && (r == '"' || r == '\'') {
				if lx.has {
					lx.add(laStart, laEnd, la)
				} else {
					quote = byte(r)
					lx.state = inQuote
					lx.tokStart, lx.lastEnd = laStart, laEnd
					tokenStartLine = tokenLine
				}
				dupSpecial = false
				continue
			}
			if plain && (r == '{' || r == '}' || r == ';') {
				if lx.has {
					lx.emit(tokenStartLine, false, lx.lastEnd)
				}
				if dupSpecial && r != '}' {
					return &lexError{what: fmt.Sprintf("unexpected %q", string(r)), line: tokenLine}
				}
				dupSpecial = true
				if r == '{' {
					depth++
				} else if r == '}' {
					depth--
					if depth < 0 {
						return &lexError{what: `unexpected "}"`, line: tokenLine}
					}
				}
				lx.add(laStart, laEnd, la)
				lx.emit(tokenStartLine, false, laEnd)
				continue
			}
			dupSpecial = false
			lx.add(laStart, laEnd, la)
		case inComment:
			if la[len(la)-1] == '\n' {
				lx.emit(tokenStartLine, false, lx.lastEnd)
				continue
			}
			lx.add(laStart, laEnd, la)
		case inVar:
			lx.add(laStart, laEnd, la)
			if la[len(la)-1] != '}' && !space {
				continue
			}
			lx.state = inWord
		case inQuote:
			if plain && r == rune(quote) {
				if !lx.dirty && laStart != lx.lastEnd {
					// CRs right before the closing quote vanished: the
					// value is the text up to the last unit added, not
					// everything between the quotes
					lx.dirty = true
					lx.buf = append(lx.buf[:0], lx.src[lx.tokStart+1:lx.lastEnd]...)
				}
				lx.emit(tokenStartLine, true, laEnd)
				continue
			}
			if laEsc && r == rune(quote) {
				la = la[len(la)-1:]
			}
			lx.add(laStart, laEnd, la)
		}
	}
	if lx.has {
		quoted := lx.state == inQuote
		lx.emit(tokenStartLine, quoted, lx.lastEnd)
	}
	if depth > 0 {
		return &lexError{what: `unexpected end of file, expecting "}"`, line: tokenLine}
	}
	return nil
}
