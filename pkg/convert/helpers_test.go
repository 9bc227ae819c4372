package convert

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// read parses manifests given as YAML text.
func read(t testing.TB, manifests string) *Input {
	t.Helper()
	in := &Input{}
	if err := in.Read("test.yaml", []byte(manifests)); err != nil {
		t.Fatalf("input: %v", err)
	}
	return in
}

// yamlOf renders a result's objects.
func yamlOf(t testing.TB, r *Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// outcomes maps each reported "what" to its outcome (the last one reported).
func outcomes(r *Result) map[string]Outcome {
	out := map[string]Outcome{}
	for _, e := range r.Report.Entries {
		out[e.What] = e.Outcome
	}
	return out
}

// TestReadRefusesAnItemThatIsNotAnObject: a list item that is empty or a
// scalar is an error naming the item, not a panic or a silent skip.
func TestReadRefusesAnItemThatIsNotAnObject(t *testing.T) {
	for _, items := range []string{"-\n", "- 3\n", "- [a]\n"} {
		in := &Input{}
		err := in.Read("list.yaml", []byte("apiVersion: networking.k8s.io/v1\nkind: IngressList\nitems:\n"+items))
		var de *DocError
		if !errors.As(err, &de) || de.Item != 0 || !strings.Contains(err.Error(), "not a mapping") {
			t.Errorf("items %q: %v, want a DocError for item 0 saying it is not a mapping", items, err)
		}
	}
}
