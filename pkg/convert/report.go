package convert

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Outcome says how much of an Ingress annotation or field the replacement
// objects keep.
type Outcome string

// Outcomes, as they appear in every report format.
const (
	// Carried: the replacement objects mean the same thing.
	Carried Outcome = "carried"
	// Approximated: the replacement objects mean something close; the
	// message says where they differ.
	Approximated Outcome = "approximated"
	// NotCarried: nothing in the replacement objects says it; the message
	// says what to do.
	NotCarried Outcome = "not-carried"
)

// Entry is one thing said about one Ingress.
type Entry struct {
	// Ingress is namespace/name.
	Ingress string `json:"ingress"`
	// What is the annotation name or the field path, e.g.
	// spec.rules[0].http.paths[1].pathType.
	What    string  `json:"what"`
	Outcome Outcome `json:"outcome"`
	// Message says what became of it and, unless carried, what to do.
	Message string `json:"message"`
}

// Report lists the entries of one conversion in Ingress order.
type Report struct {
	Entries []Entry `json:"entries"`
}

// add appends an entry.
func (r *Report) add(ing *ingress, what string, o Outcome, format string, args ...any) {
	r.Entries = append(r.Entries, Entry{Ingress: ing.key(), What: what, Outcome: o, Message: fmt.Sprintf(format, args...)})
}

// AllCarried reports whether every entry is Carried.
func (r *Report) AllCarried() bool {
	for _, e := range r.Entries {
		if e.Outcome != Carried {
			return false
		}
	}
	return true
}

// Count returns how many entries have an outcome.
func (r *Report) Count(o Outcome) int {
	n := 0
	for _, e := range r.Entries {
		if e.Outcome == o {
			n++
		}
	}
	return n
}

// Report formats, for --report-format.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Write renders the report: text is one line per entry,
// "namespace/name: what: outcome: message", then a summary line; json is
// the Report as an object with its entries.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case FormatText:
		var b strings.Builder
		for _, e := range r.Entries {
			fmt.Fprintf(&b, "%s: %s: %s: %s\n", e.Ingress, e.What, e.Outcome, e.Message)
		}
		b.WriteString(r.Summary() + "\n")
		_, err := io.WriteString(w, b.String())
		return err
	case FormatJSON:
		out := *r
		if out.Entries == nil {
			out.Entries = []Entry{}
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	return fmt.Errorf("unknown report format %q: use text or json", format)
}

// Summary is one line: how many entries of each outcome.
func (r *Report) Summary() string {
	return fmt.Sprintf("%s carried, %s approximated, %s not carried",
		plural(r.Count(Carried), "item"), fmt.Sprint(r.Count(Approximated)), fmt.Sprint(r.Count(NotCarried)))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
