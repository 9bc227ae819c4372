package yamlpatch

import (
	"strings"
)

// setBlockScalar replaces the value of a literal or folded block scalar. A
// literal stays a literal with its indentation, indicators and every
// unchanged line as written, so a config file it holds gains exactly its new
// lines; a folded scalar, or text a literal cannot hold, is written anew.
func (e *editor) setBlockScalar(at place, v string) error {
	n := at.node
	p := e.skipProperties(e.start(n))
	b := e.blockScalar(p, at.pindent)
	oldBody, newBody := strings.TrimRight(n.Value, "\n"), strings.TrimRight(v, "\n")
	oldNL, newNL := len(n.Value)-len(oldBody), len(v)-len(newBody)
	raw := e.contentLines(b)
	inPlace := e.text[p] == '|' && literalSafe(v) && oldNL <= 1 && newNL <= 1 && b.first < b.last &&
		len(raw) == strings.Count(oldBody, "\n")+1 && (b.explicit != "" || !strings.HasPrefix(v, " "))
	if !inPlace {
		end := b.last
		// Kept trailing line breaks are part of the old value: replace them too.
		for range oldNL - 1 {
			next := e.nextLine(end)
			if next >= len(e.text) || strings.TrimSpace(e.text[next:e.lineEnd(next)]) != "" {
				break
			}
			end = e.lineEnd(next)
		}
		if lit, ok := e.literal(v, b.indent, e.text[p] == '|'); ok {
			return e.splice(p, end, lit)
		}
		return e.splice(p, end, jsonString(v))
	}
	var out []string
	for _, d := range diffLines(strings.Split(oldBody, "\n"), strings.Split(newBody, "\n")) {
		switch {
		case d.old >= 0:
			out = append(out, raw[d.old])
		case d.text == "":
			out = append(out, "")
		default:
			out = append(out, spaces(b.indent)+d.text)
		}
	}
	content := strings.Join(out, e.nl)
	if oldNL == newNL {
		return e.splice(b.first, b.last, content)
	}
	// Only the trailing line break changed: adjust the chomping indicator.
	header := "|" + b.explicit + chomping(newNL)
	return e.splice(b.header, b.last, header+e.text[b.headerEnd:b.first]+content)
}

// contentLines returns the text lines of a block scalar's content, without
// line breaks, from its first content line to its last non-blank one.
func (e *editor) contentLines(b blockRange) []string {
	if b.first >= b.last {
		return nil
	}
	lines := strings.Split(e.text[b.first:b.last], "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// lineDiff is one line of a merged text: taken from the old text (old is its
// index) or new (old is -1).
type lineDiff struct {
	old  int
	text string
}

// maxDiffCells bounds the quadratic part of diffLines; past it the changed
// middle is taken as replaced, which is still correct, only less minimal.
const maxDiffCells = 4 << 20

// diffLines aligns two texts line by line: common prefix and suffix first,
// then a longest common subsequence over the (usually tiny) middle.
func diffLines(a, b []string) []lineDiff {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []lineDiff
	for i := range pre {
		out = append(out, lineDiff{old: i, text: a[i]})
	}
	am, bm := a[pre:len(a)-suf], b[pre:len(b)-suf]
	pairs := lcs(len(am), len(bm), func(i, j int) bool { return am[i] == bm[j] })
	j := 0
	for _, pr := range pairs {
		for ; j < pr[1]; j++ {
			out = append(out, lineDiff{old: -1, text: bm[j]})
		}
		out = append(out, lineDiff{old: pre + pr[0], text: am[pr[0]]})
		j++
	}
	for ; j < len(bm); j++ {
		out = append(out, lineDiff{old: -1, text: bm[j]})
	}
	for i := len(a) - suf; i < len(a); i++ {
		out = append(out, lineDiff{old: i, text: a[i]})
	}
	return out
}

// lcs returns the index pairs of a longest common subsequence of two
// sequences of lengths n and m, or none when the table would be too large.
func lcs(n, m int, eq func(i, j int) bool) [][2]int {
	if n == 0 || m == 0 || n*m > maxDiffCells {
		return nil
	}
	t := make([][]int32, n+1)
	for i := range t {
		t[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if eq(i, j) {
				t[i][j] = t[i+1][j+1] + 1
			} else {
				t[i][j] = max(t[i+1][j], t[i][j+1])
			}
		}
	}
	var out [][2]int
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case eq(i, j):
			out = append(out, [2]int{i, j})
			i, j = i+1, j+1
		case t[i+1][j] >= t[i][j+1]:
			i++
		default:
			j++
		}
	}
	return out
}
