package chart

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// documentedAsOne are values the README documents as a whole rather than
// key by key.
var documentedAsOne = []string{"resources", "networkPolicy.metricsNamespaceSelector", "metrics.grafanaDashboard.labels"}

// TestEveryValueIsDocumented keeps the README's values table complete: every
// leaf of values.yaml has a row, and every row names a value that exists.
func TestEveryValueIsDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var defaults map[string]any
	if err := yaml.Unmarshal(raw, &defaults); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Rows of the table under "## Values", up to the next section.
	_, section, _ := strings.Cut(string(readme), "\n## Values\n")
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			key, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			rows[key] = true
		}
	}
	leaves := leafKeys("", defaults)
	for _, key := range leaves {
		if !rows[key] {
			t.Errorf("value %s has no row in the README's values table", key)
		}
	}
	if len(rows) == 0 {
		t.Fatal("no values table found under \"## Values\" in the README")
	}
	for key := range rows {
		if !slices.Contains(leaves, key) {
			t.Errorf("the README documents %s, which values.yaml does not have", key)
		}
	}
}

func leafKeys(prefix string, m map[string]any) []string {
	var keys []string
	for k, v := range m {
		key := strings.TrimPrefix(prefix+"."+k, ".")
		if slices.Contains(documentedAsOne, key) {
			keys = append(keys, key)
			continue
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			keys = append(keys, leafKeys(key, sub)...)
			continue
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

// TestEveryValueHasAComment checks that each value in values.yaml is
// preceded by a comment saying what it does.
func TestEveryValueHasAComment(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var defaults map[string]any
	if err := yaml.Unmarshal(raw, &defaults); err != nil {
		t.Fatal(err)
	}
	leaves := leafKeys("", defaults)
	var path []string // keys of the enclosing mappings, by indentation level
	previous := ""
	checked := 0
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		if !strings.HasPrefix(trimmed, "#") && !strings.HasPrefix(trimmed, "-") {
			if key, _, ok := strings.Cut(trimmed, ":"); ok {
				level := (len(line) - len(strings.TrimLeft(line, " "))) / 2
				path = append(path[:min(level, len(path))], key)
				full := strings.Join(path, ".")
				if slices.Contains(leaves, full) {
					checked++
					if !strings.HasPrefix(previous, "#") {
						t.Errorf("value %s has no comment above it", full)
					}
				}
			}
		}
		previous = trimmed
	}
	if checked != len(leaves) {
		t.Errorf("checked %d values, values.yaml has %d: the scan lost track of the nesting", checked, len(leaves))
	}
}
