// Package harness runs meshguard end to end against a real kube-apiserver and
// etcd (through controller-runtime's envtest) and the real webhook binary:
// finding the control-plane binaries (hack/tools/build.sh), starting the
// control plane with the Istio CRDs, building and starting `webhook serve`
// with a throwaway serving certificate (internal/testcert) until it is
// ready, pointing the chart's webhook configurations at it, and collecting
// the warnings the API server returns.
//
// Everything returns errors rather than taking a testing.TB, so programs
// (make demo, bench/cmd/apiload) use it as well as tests (test/e2e, whose
// harness package adapts it to testing.TB).
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RootModule is the module path whose go.mod marks the repository root.
const RootModule = "github.com/meshguard/meshguard"

// BuildToolsTimeout bounds hack/tools/build.sh; a cold build of
// kube-apiserver alone takes about 12 minutes on two cores.
const BuildToolsTimeout = 45 * time.Minute

// Tools are the binaries that hack/tools/build.sh produces.
type Tools struct {
	// KubebuilderAssets is a directory holding kube-apiserver and etcd.
	KubebuilderAssets string
	// Helm is the path of the helm binary.
	Helm string
}

// RepoRoot returns the directory of the repository's root go.mod, searching
// upwards from dir (the working directory when dir is empty; go test sets
// it to the package directory). A separate module's own go.mod is not
// mistaken for it.
func RepoRoot(dir string) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("working directory: %w", err)
		}
		dir = wd
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if isRootModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod declaring module %s above %s", RootModule, dir)
		}
		dir = parent
	}
}

// isRootModule reports whether the go.mod at path declares RootModule.
func isRootModule(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == RootModule
		}
	}
	return false
}

// FindTools returns $KUBEBUILDER_ASSETS and $HELM when both are set, and
// otherwise what hack/tools/build.sh in repo prints (it builds only what is
// not cached yet, and takes well under a second when everything is). The
// script's progress goes to progress (nil: discarded), which matters for a
// cold build that takes minutes.
func FindTools(ctx context.Context, repo string, progress io.Writer) (Tools, error) {
	if a, h := os.Getenv("KUBEBUILDER_ASSETS"), os.Getenv("HELM"); a != "" && h != "" {
		return Tools{KubebuilderAssets: a, Helm: h}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, BuildToolsTimeout)
	defer cancel()
	script := filepath.Join(repo, "hack", "tools", "build.sh")
	var stdout bytes.Buffer
	stderr := &tailWriter{max: 4 << 10}
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	if progress != nil {
		cmd.Stderr = io.MultiWriter(progress, stderr)
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return Tools{}, fmt.Errorf("%s did not finish within %s", script, BuildToolsTimeout)
		}
		return Tools{}, fmt.Errorf("%s: %w\n%s", script, err, stderr.buf.String())
	}
	return parseBuildOutput(stdout.String())
}

// KubebuilderAssets returns the directory with kube-apiserver and etcd:
// $KUBEBUILDER_ASSETS when set, otherwise FindTools's.
func KubebuilderAssets(ctx context.Context, repo string, progress io.Writer) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	t, err := FindTools(ctx, repo, progress)
	return t.KubebuilderAssets, err
}

// parseBuildOutput reads the KEY=VALUE lines that build.sh prints on stdout.
func parseBuildOutput(out string) (Tools, error) {
	var t Tools
	for line := range strings.Lines(out) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch key {
		case "KUBEBUILDER_ASSETS":
			t.KubebuilderAssets = value
		case "HELM":
			t.Helm = value
		}
	}
	if t.KubebuilderAssets == "" || t.Helm == "" {
		return Tools{}, fmt.Errorf("hack/tools/build.sh printed no KUBEBUILDER_ASSETS or HELM line: %q", out)
	}
	return t, nil
}

// RenderChart renders the chart in repo with `helm template` (values merged
// over the chart's defaults and checked against values.schema.json) and
// returns its webhook configurations; helmArgs are appended to the command
// (for example --api-versions).
func RenderChart(ctx context.Context, helm, repo string, values map[string]any, helmArgs ...string) (ChartWebhooks, error) {
	f, err := os.CreateTemp("", "meshguard-values-*.json")
	if err != nil {
		return ChartWebhooks{}, err
	}
	defer os.Remove(f.Name())
	err = json.NewEncoder(f).Encode(values)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ChartWebhooks{}, err
	}
	cmd := exec.CommandContext(ctx, helm, append([]string{"template", ChartRelease, filepath.Join(repo, ChartDir),
		"--namespace", ChartNamespace, "--values", f.Name()}, helmArgs...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return ChartWebhooks{}, fmt.Errorf("helm template: %w: %s", err, stderr.String())
	}
	return ParseChartWebhooks(out)
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	buf bytes.Buffer
	max int
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if extra := w.buf.Len() - w.max; extra > 0 {
		w.buf.Next(extra)
	}
	return len(p), nil
}

// Tail returns the last n lines of the file at path, indented, for error
// messages that point at a log.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
