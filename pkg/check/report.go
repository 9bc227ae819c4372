package check

import (
	"fmt"
	"strings"
)

// Severity says what a finding means for the object.
type Severity string

// Severities, as they appear in every output format.
const (
	// Deny: the webhook would refuse the object (or check cannot tell, for an
	// unknown namespace).
	Deny Severity = "deny"
	// Warn: the object is admitted with a warning.
	Warn Severity = "warn"
	// Change: a mutating rule changes the object; --fix writes the change.
	Change Severity = "change"
)

// Rule IDs of the findings check reports itself; they are no webhook rules.
const (
	UnknownNamespaceRule    = "unknown-namespace"
	UnknownIngressClassRule = "unknown-ingressclass"
)

// Finding is one thing said about one object; it is also the JSON output's
// element.
type Finding struct {
	File          string   `json:"file"`
	Line          int      `json:"line"`
	DocumentIndex int      `json:"documentIndex"`
	Kind          string   `json:"kind"`
	Namespace     string   `json:"namespace"`
	Name          string   `json:"name"`
	Rule          string   `json:"rule"`
	Severity      Severity `json:"severity"`
	Message       string   `json:"message"`
	// Source is the chart template that rendered the object (helm template's
	// "# Source:" comment).
	Source string `json:"source,omitempty"`
	// Fixed is set on a change that --fix wrote into the manifest.
	Fixed bool `json:"fixed,omitempty"`
}

// Fails reports whether the finding makes check exit with 1.
func (f Finding) Fails() bool {
	return f.Severity == Deny || (f.Severity == Change && !f.Fixed)
}

// Report is the outcome of one run.
type Report struct {
	Files []*File
}

// Findings lists every finding, file by file, in input order.
func (r *Report) Findings() []Finding {
	out := []Finding{}
	for _, f := range r.Files {
		for _, o := range f.Objects {
			out = append(out, o.Findings...)
		}
	}
	return out
}

// Errors lists every document that could not be read, checked or fixed.
func (r *Report) Errors() []*DocError {
	var out []*DocError
	for _, f := range r.Files {
		out = append(out, f.Errors...)
	}
	return out
}

// Exit codes of webhook check.
const (
	ExitClean    = 0
	ExitFindings = 1
	ExitError    = 2
)

// ExitCode is 2 when any input could not be read, checked or fixed, else 1
// when an object would be denied, sits in an unknown namespace, or needs a
// change that was not written, else 0. Warnings never fail.
func (r *Report) ExitCode() int {
	if len(r.Errors()) > 0 {
		return ExitError
	}
	for _, f := range r.Findings() {
		if f.Fails() {
			return ExitFindings
		}
	}
	return ExitClean
}

// Summary is one line counting objects and findings, for the text output.
func (r *Report) Summary() string {
	objects, files := 0, len(r.Files)
	count := map[string]int{}
	for _, f := range r.Files {
		objects += len(f.Objects)
		for _, o := range f.Objects {
			for _, fd := range o.Findings {
				switch {
				case fd.Rule == UnknownNamespaceRule:
					count["in an unknown namespace"]++
				case fd.Severity == Change && fd.Fixed:
					count["fixed"]++
				case fd.Severity == Change:
					count["to change"]++
				case fd.Severity == Deny:
					count["denied"]++
				default:
					count["warnings"]++
				}
			}
		}
	}
	var parts []string
	for _, k := range []string{"denied", "to change", "fixed", "in an unknown namespace"} {
		if count[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[k], k))
		}
	}
	if n := count["warnings"]; n > 0 {
		parts = append(parts, plural(n, "warning"))
	}
	if n := len(r.Errors()); n > 0 {
		parts = append(parts, plural(n, "error"))
	}
	if len(parts) == 0 {
		parts = append(parts, "no findings")
	}
	return fmt.Sprintf("checked %s in %s: %s", plural(objects, "object"), plural(files, "file"), strings.Join(parts, ", "))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
