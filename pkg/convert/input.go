package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/meshguard/meshguard/pkg/check"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// Input is what Convert reads: Ingresses, and the Services and
// IngressClasses that help to read them.
type Input struct {
	Ingresses []*networkingv1.Ingress
	// Services resolve backends that name a port instead of numbering it.
	Services []*corev1.Service
	// IngressClasses resolve spec.ingressClassName to a controller.
	IngressClasses []*networkingv1.IngressClass
	// Retired holds the API version of each Ingress read from one that
	// Kubernetes removed (extensions/v1beta1, networking.k8s.io/v1beta1).
	Retired map[*networkingv1.Ingress]string
}

// DocError names the document of a file that could not be read.
type DocError struct {
	File string
	// Document counts from 0 in the order of the file's "---" separators.
	Document int
	// Item is the List item, or -1.
	Item int
	// Line is the file line where the document starts (0 when unknown).
	Line int
	Err  error
}

// Error implements error: "file: document N, item M (line L): what is wrong".
func (e *DocError) Error() string {
	where := fmt.Sprintf("document %d", e.Document)
	if e.Item >= 0 {
		where += fmt.Sprintf(", item %d", e.Item)
	}
	if e.Line > 0 {
		where += fmt.Sprintf(" (line %d)", e.Line)
	}
	return fmt.Sprintf("%s: %s: %v", e.File, where, e.Err)
}

// Unwrap returns the underlying error.
func (e *DocError) Unwrap() error { return e.Err }

// Read adds the Ingresses, Services and IngressClasses of one file (YAML
// documents separated by "---", or JSON values; List kinds are expanded) to
// in. Objects of other kinds are skipped. The first document that cannot be
// read is returned as a *DocError naming file (the name used in messages).
func (in *Input) Read(file string, data []byte) error {
	docs, err := splitDocuments(data)
	if err != nil {
		return &DocError{File: file, Document: len(docs), Item: -1, Err: err}
	}
	for i, d := range docs {
		j, err := sigsyaml.YAMLToJSON(d.data)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
			return &DocError{File: file, Document: i, Item: -1, Line: d.line, Err: fmt.Errorf("invalid YAML: %s", shiftLines(msg, d.line-1))}
		}
		if err := in.readDocument(j); err != nil {
			err.File, err.Document, err.Line = file, i, d.line
			return err
		}
	}
	return nil
}

// head is what Read looks at before choosing a type.
type head struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Items      json.RawMessage `json:"items"`
}

func (in *Input) readDocument(j []byte) *DocError {
	if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	h, err := readHead(j)
	if err != nil {
		return &DocError{Item: -1, Err: err}
	}
	if !check.IsList(h.Kind, h.Items) {
		if err := in.readObject(h, j); err != nil {
			return &DocError{Item: -1, Err: err}
		}
		return nil
	}
	var items []json.RawMessage
	if len(h.Items) > 0 && !bytes.Equal(bytes.TrimSpace(h.Items), []byte("null")) {
		if err := json.Unmarshal(h.Items, &items); err != nil {
			return &DocError{Item: -1, Err: fmt.Errorf("the items of a %s are not a list of objects: %v", h.Kind, err)}
		}
	}
	for i, raw := range items {
		raw, err := check.ListItem(raw, h.APIVersion, h.Kind)
		var ih *head
		if err == nil {
			ih, err = readHead(raw)
		}
		if err == nil {
			err = in.readObject(ih, raw)
		}
		if err != nil {
			return &DocError{Item: i, Err: err}
		}
	}
	return nil
}

func readHead(j []byte) (*head, error) {
	if t := bytes.TrimSpace(j); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("the document is not a mapping, so not a Kubernetes object; every document needs apiVersion, kind and metadata")
	}
	h := &head{}
	if err := json.Unmarshal(j, h); err != nil {
		return nil, fmt.Errorf("the object does not decode: %v", err)
	}
	if h.APIVersion == "" || h.Kind == "" {
		return nil, fmt.Errorf("the object has no apiVersion or no kind (apiVersion %q, kind %q); every Kubernetes object needs both", h.APIVersion, h.Kind)
	}
	return h, nil
}

// readObject keeps Ingresses, Services and IngressClasses.
func (in *Input) readObject(h *head, j []byte) error {
	switch {
	case h.Kind == "Ingress" && (h.APIVersion == "networking.k8s.io/v1" || check.RetiredIngress(h.APIVersion)):
		if check.RetiredIngress(h.APIVersion) {
			var err error
			if j, err = check.IngressV1(j); err != nil {
				return fmt.Errorf("Ingress (%s) does not decode: %v", h.APIVersion, err)
			}
		}
		ing := &networkingv1.Ingress{}
		if err := json.Unmarshal(j, ing); err != nil {
			return fmt.Errorf("Ingress does not decode as %s: %v", h.APIVersion, err)
		}
		in.Ingresses = append(in.Ingresses, ing)
		if check.RetiredIngress(h.APIVersion) {
			if in.Retired == nil {
				in.Retired = map[*networkingv1.Ingress]string{}
			}
			in.Retired[ing] = h.APIVersion
		}
	case h.Kind == "Service" && h.APIVersion == "v1":
		svc := &corev1.Service{}
		if err := json.Unmarshal(j, svc); err != nil {
			return fmt.Errorf("Service does not decode: %v", err)
		}
		in.Services = append(in.Services, svc)
	case h.Kind == "IngressClass" && h.APIVersion == "networking.k8s.io/v1":
		ic := &networkingv1.IngressClass{}
		if err := json.Unmarshal(j, ic); err != nil {
			return fmt.Errorf("IngressClass does not decode: %v", err)
		}
		in.IngressClasses = append(in.IngressClasses, ic)
	}
	return nil
}

// document is one YAML document (or JSON value) of a file.
type document struct {
	data []byte
	line int // file line where the document starts
}

// splitDocuments cuts a file into YAML documents at "---" and "..." lines,
// or into JSON values when it starts like JSON. On a JSON syntax error it
// returns the values read so far.
func splitDocuments(data []byte) ([]document, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return splitJSON(data)
	}
	var docs []document
	start, startLine := 0, 1
	// flush ends the document at end. Every "---" starts a document, even
	// an empty one; text without content before the first marker or after
	// a "..." (comments, directives) belongs to the next document.
	flush := func(end int, final bool) bool {
		marker := isMarker(data[start:end], "---")
		if !marker && !hasContent(data[start:end]) && !final {
			return false
		}
		if marker || hasContent(data[start:end]) {
			docs = append(docs, document{data: data[start:end], line: startLine})
		}
		return true
	}
	for pos, line := 0, 1; pos < len(data); line++ {
		end := len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		text := data[pos:end]
		switch {
		case isMarker(text, "---"):
			if flush(pos, false) {
				start, startLine = pos, line
			}
		case isMarker(text, "..."):
			flush(pos, true)
			start, startLine = end, line+1
		}
		pos = end
	}
	flush(len(data), true)
	return docs, nil
}

// hasContent reports whether YAML text holds more than blank lines,
// comments and directives.
func hasContent(text []byte) bool {
	for _, l := range bytes.Split(text, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' && t[0] != '%' {
			return true
		}
	}
	return false
}

// isMarker reports a document marker line: the marker alone or followed by
// white space (a comment or, for "---", content may follow).
func isMarker(line []byte, marker string) bool {
	return bytes.HasPrefix(line, []byte(marker)) && (len(line) == 3 || strings.IndexByte(" \t\r\n", line[3]) >= 0)
}

func splitJSON(data []byte) ([]document, error) {
	var docs []document
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		off := dec.InputOffset()
		err := dec.Decode(&raw)
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return docs, fmt.Errorf("invalid JSON: %v", err)
		}
		line := bytes.Count(data[:off], []byte("\n")) + 1
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
			// A top-level array is read as a List of its values.
			raw = append(append([]byte(`{"apiVersion":"v1","kind":"List","items":`), raw...), '}')
		}
		docs = append(docs, document{data: raw, line: line})
	}
}

// shiftLines adds by to every "line N" of a YAML library message, whose
// lines count from the document's start, so they name file lines.
func shiftLines(msg string, by int) string {
	var b strings.Builder
	for {
		i := strings.Index(msg, "line ")
		if i < 0 {
			return b.String() + msg
		}
		j := i + 5
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(msg[i+5 : j]); err == nil {
			b.WriteString(msg[:i] + "line " + strconv.Itoa(n+by))
		} else {
			b.WriteString(msg[:j])
		}
		msg = msg[j:]
	}
}
