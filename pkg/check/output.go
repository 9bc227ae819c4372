package check

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Formats of the report, for -o.
const (
	FormatText  = "text"
	FormatJSON  = "json"
	FormatJUnit = "junit"
)

// Write renders the report's findings in a format. Errors are not part of
// the text and JSON outputs (the caller prints them on stderr); JUnit holds
// them as <error> test cases, so CI shows them next to the findings.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case FormatText:
		return r.writeText(w)
	case FormatJSON:
		b, err := json.MarshalIndent(r.Findings(), "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case FormatJUnit:
		return r.writeJUnit(w)
	}
	return fmt.Errorf("unknown output format %q: use text, json or junit", format)
}

// writeText writes one line per finding, "file:line: [rule] message", the
// shape editors and CI log viewers link to, then a summary line.
func (r *Report) writeText(w io.Writer) error {
	for _, f := range r.Findings() {
		if _, err := fmt.Fprintf(w, "%s:%d: [%s] %s%s\n", f.File, f.Line, f.Rule, lead(f), f.Message); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// lead tells apart what the webhook would do with the object.
func lead(f Finding) string {
	switch {
	case f.Severity == Warn:
		return "warning: "
	case f.Severity == Change && f.Fixed:
		return "fixed: "
	case f.Severity == Change:
		return "would change: "
	}
	return ""
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes one test suite per file and one test case per object:
// denials and changes not written by --fix fail it, warnings go to its
// system-out, and documents that could not be read or checked are errors.
func (r *Report) writeJUnit(w io.Writer) error {
	all := junitSuites{Name: "meshguard check"}
	for _, f := range r.Files {
		s := junitSuite{Name: f.Name}
		for _, o := range f.Objects {
			c := junitCase{Name: objectName(o), Classname: f.Name}
			var failing, other []string
			for _, fd := range o.Findings {
				line := fmt.Sprintf("[%s] %s%s", fd.Rule, lead(fd), fd.Message)
				if fd.Fails() {
					if c.Failure == nil {
						c.Failure = &junitProblem{Message: line, Type: string(fd.Severity)}
					}
					failing = append(failing, line)
				} else {
					other = append(other, line)
				}
			}
			if c.Failure != nil {
				c.Failure.Text = strings.Join(failing, "\n")
				s.Failures++
			}
			c.SystemOut = strings.Join(other, "\n")
			s.Cases = append(s.Cases, c)
		}
		for _, e := range f.Errors {
			name := "file"
			if e.DocumentIndex >= 0 {
				name = fmt.Sprintf("document %d", e.DocumentIndex)
			}
			s.Cases = append(s.Cases, junitCase{Name: name, Classname: f.Name, Error: &junitProblem{Message: e.Err.Error(), Type: "error", Text: e.Error()}})
			s.Errors++
		}
		s.Tests = len(s.Cases)
		all.Tests, all.Failures, all.Errors = all.Tests+s.Tests, all.Failures+s.Failures, all.Errors+s.Errors
		all.Suites = append(all.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// objectName names a test case: kind, namespace/name, and where it is.
func objectName(o *Object) string {
	name := o.Name
	if o.Namespace != "" {
		name = o.Namespace + "/" + name
	}
	where := fmt.Sprintf("document %d", o.DocumentIndex)
	if o.Item >= 0 {
		where += fmt.Sprintf(", item %d", o.Item)
	}
	return fmt.Sprintf("%s %s (%s, line %d)", o.Kind, name, where, o.Line)
}
