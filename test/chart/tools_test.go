package chart

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildTimeout bounds hack/tools/build.sh; a cold build of kube-apiserver
// takes about 12 minutes on two cores.
const buildTimeout = 45 * time.Minute

// repoRoot is the repository root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// inCI reports whether the tests run in CI, where a missing tool is a
// failure and not a reason to skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// helmBinary returns the helm that hack/tools/build.sh builds: $HELM when
// set; in CI whatever build.sh reports (building it if needed); locally the
// cached binary of the pinned version, or a loud skip when it is not built.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HELM"); p != "" {
		return p
	}
	if inCI() {
		return buildTools(t)["HELM"]
	}
	p := filepath.Join(cacheRoot(t), "helm-"+toolVersion(t, "helm", "helm.sh/helm/v3"), "helm")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("SKIPPED: %s is not built; run `bash hack/tools/build.sh` (a cold build takes about 15 minutes) or set HELM", p)
	}
	return p
}

// kubebuilderAssets returns a directory with kube-apiserver and etcd, found
// the same way as helmBinary ($KUBEBUILDER_ASSETS first).
func kubebuilderAssets(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KUBEBUILDER_ASSETS"); p != "" {
		return p
	}
	if inCI() {
		return buildTools(t)["KUBEBUILDER_ASSETS"]
	}
	p := filepath.Join(cacheRoot(t), "envtest-"+toolVersion(t, "kube", "k8s.io/kubernetes")+"-etcd-"+toolVersion(t, "etcd", "go.etcd.io/etcd/server/v3"))
	if _, err := os.Stat(filepath.Join(p, "kube-apiserver")); err != nil {
		t.Skipf("SKIPPED: no kube-apiserver in %s; run `bash hack/tools/build.sh` (a cold build takes about 15 minutes) or set KUBEBUILDER_ASSETS", p)
	}
	return p
}

// buildTools runs hack/tools/build.sh and returns the KEY=VALUE lines it
// prints; it takes well under a second when the binaries are cached.
func buildTools(t *testing.T) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(t), "hack", "tools", "build.sh"))
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/tools/build.sh: %v", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			out[k] = v
		}
	}
	if out["HELM"] == "" || out["KUBEBUILDER_ASSETS"] == "" {
		t.Fatalf("hack/tools/build.sh printed %q, want HELM= and KUBEBUILDER_ASSETS= lines", stdout.String())
	}
	return out
}

// cacheRoot is where build.sh puts the binaries.
func cacheRoot(t *testing.T) string {
	t.Helper()
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "meshguard", "bin")
}

// toolVersion is the version of module pinned in hack/tools/<dir>, read the
// way build.sh reads it.
func toolVersion(t *testing.T, dir, module string) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", module)
	cmd.Dir = filepath.Join(repoRoot(t), "hack", "tools", dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reading the %s pin in hack/tools/%s: %v", module, dir, err)
	}
	return strings.TrimSpace(string(out))
}
