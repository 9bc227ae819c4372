package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckedInDashboardsAreGenerated: deploy/grafana/meshguard.json and
// the chart's copy are what the generator writes now (run `make dashboard`).
func TestCheckedInDashboardsAreGenerated(t *testing.T) {
	want, err := render()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		filepath.Join("..", "..", "deploy", "grafana", "meshguard.json"),
		filepath.Join("..", "..", "deploy", "charts", "meshguard", "files", "grafana", "meshguard.json"),
	} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output: run `make dashboard`", path)
		}
	}
}
