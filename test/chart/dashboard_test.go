package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGrafanaDashboard: off by default; on, one ConfigMap labelled for
// Grafana's sidecar holding deploy/grafana/meshguard.json exactly
// (hack/dashboard checks that file is the generator's output).
func TestGrafanaDashboard(t *testing.T) {
	if m := render(t, nil); len(m.ConfigMaps) != 0 {
		t.Errorf("the chart renders %d ConfigMaps by default", len(m.ConfigMaps))
	}
	m := render(t, values(t, "metrics: {grafanaDashboard: {enabled: true, namespace: monitoring, annotations: {grafana_folder: Istio}}}"))
	if len(m.ConfigMaps) != 1 {
		t.Fatalf("%d ConfigMaps, want the dashboard's", len(m.ConfigMaps))
	}
	cm := m.ConfigMaps[0]
	if cm.Namespace != "monitoring" || cm.Labels["grafana_dashboard"] != "1" || cm.Annotations["grafana_folder"] != "Istio" {
		t.Errorf("ConfigMap %s/%s labels %v annotations %v", cm.Namespace, cm.Name, cm.Labels, cm.Annotations)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "meshguard.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := cm.Data["meshguard.json"]
	if got != strings.TrimSuffix(string(want), "\n") {
		t.Errorf("the ConfigMap's meshguard.json differs from deploy/grafana/meshguard.json")
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []any  `json:"panels"`
	}
	if err := json.Unmarshal([]byte(got), &d); err != nil || d.UID != "meshguard" || len(d.Panels) < 10 {
		t.Errorf("the dashboard does not decode as meshguard's: %v (uid %q, %d panels)", err, d.UID, len(d.Panels))
	}
}
