package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRestConfigFromKubeconfig: a kubeconfig gives the same client settings
// as the in-cluster config, no gzip on watches and no client-side rate limit.
func TestRestConfigFromKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kubeconfig := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := restConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:6443" || !cfg.DisableCompression || cfg.QPS != -1 {
		t.Errorf("host %q, DisableCompression %v, QPS %v; want the kubeconfig's server, true, -1", cfg.Host, cfg.DisableCompression, cfg.QPS)
	}
}
