// Package harness runs meshguard end to end against a real kube-apiserver and
// etcd (through controller-runtime's envtest) and the real webhook binary.
//
// The control plane binaries are built from source by hack/tools/build.sh;
// point KUBEBUILDER_ASSETS at a directory holding kube-apiserver and etcd to
// skip that step.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rootModule is the module path whose go.mod marks the repository root.
const rootModule = "github.com/meshguard/meshguard"

// buildTimeout bounds hack/tools/build.sh; a cold build of kube-apiserver
// alone takes about 12 minutes on two cores.
const buildTimeout = 45 * time.Minute

// Tools are the binaries that hack/tools/build.sh produces.
type Tools struct {
	// KubebuilderAssets is a directory holding kube-apiserver and etcd.
	KubebuilderAssets string
	// Helm is the path of the helm binary.
	Helm string
}

// RepoRoot returns the directory of the repository's root go.mod, searching
// upwards from the working directory, which go test sets to the package
// directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	for {
		if isRootModule(filepath.Join(dir, "go.mod")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod declaring module %s above the working directory", rootModule)
		}
		dir = parent
	}
}

// isRootModule reports whether the go.mod at path declares rootModule; the
// test module's own go.mod must not be mistaken for it.
func isRootModule(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == rootModule
		}
	}
	return false
}

// KubebuilderAssets returns the directory with kube-apiserver and etcd: the
// KUBEBUILDER_ASSETS environment variable when set, otherwise the cache that
// hack/tools/build.sh fills (building the binaries if they are missing).
func KubebuilderAssets(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return BuildTools(t).KubebuilderAssets
}

// BuildTools runs hack/tools/build.sh and returns the binaries it reports. The
// script's progress goes to the test binary's stderr so a cold build, which
// takes minutes, does not look like a hang when tests run with -v.
func BuildTools(t testing.TB) Tools {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()

	script := filepath.Join(RepoRoot(t), "hack", "tools", "build.sh")
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("%s did not finish within %s", script, buildTimeout)
		}
		t.Fatalf("%s: %v", script, err)
	}
	tools, err := parseBuildOutput(stdout.String())
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	t.Logf("tools ready in %s: %+v", time.Since(start).Round(time.Millisecond), tools)
	return tools
}

// parseBuildOutput reads the KEY=VALUE lines that build.sh prints on stdout.
func parseBuildOutput(out string) (Tools, error) {
	var tools Tools
	for _, line := range strings.Split(out, "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch key {
		case "KUBEBUILDER_ASSETS":
			tools.KubebuilderAssets = value
		case "HELM":
			tools.Helm = value
		}
	}
	if tools.KubebuilderAssets == "" || tools.Helm == "" {
		return Tools{}, fmt.Errorf("missing KUBEBUILDER_ASSETS or HELM in output %q", out)
	}
	return tools, nil
}
