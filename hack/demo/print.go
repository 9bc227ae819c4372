package main

import (
	"strings"
)

const (
	statusWidth = 12
	indent      = "                  " // 2 + statusWidth + 2 + 2
	wrapAt      = 100
)

// print writes one outcome: the status word, the object, then its details.
func (d *demo) print(oc *outcome) {
	mark := ""
	if oc.problem != "" {
		mark = "   <-- NOT EXPECTED: " + oc.problem
	}
	d.printf("    %-*s  %s %s%s\n", statusWidth, oc.status, oc.kind, oc.name, mark)
	if oc.message != "" {
		d.printf("%s", wrap(oc.message, indent))
	}
	for _, diff := range oc.diffs {
		for line := range strings.Lines(diff) {
			d.printf("%s%s", indent, line)
		}
		if !strings.HasSuffix(diff, "\n") {
			d.printf("\n")
		}
	}
	for _, a := range oc.annotations {
		d.printf("%sannotation %s\n", indent, a)
	}
	for _, w := range oc.warnings {
		d.printf("%s", wrap("warning: "+w, indent))
	}
}

// wrap breaks text at spaces so that lines stay within wrapAt columns, each
// prefixed by ind; continuation lines are indented two more.
func wrap(text, ind string) string {
	var b strings.Builder
	width := wrapAt - len(ind)
	words := strings.Fields(text)
	line := ""
	first := true
	flush := func() {
		b.WriteString(ind)
		if !first {
			b.WriteString("  ")
		}
		b.WriteString(line)
		b.WriteString("\n")
		first = false
		line = ""
	}
	for _, w := range words {
		limit := width
		if !first {
			limit -= 2
		}
		if line != "" && len(line)+1+len(w) > limit {
			flush()
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		flush()
	}
	return b.String()
}
