package convert

import (
	"bytes"
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
