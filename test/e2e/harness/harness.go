// Package harness adapts internal/harness, which runs meshguard against a
// real kube-apiserver and etcd and the real webhook binary, to tests: every
// helper takes a testing.TB, fails it on error and cleans up when it ends.
// What only the e2e tests need (rendering the chart with Helm's Go engine
// for arbitrary values, registering it, WaitFor) lives here too.
//
// The control plane binaries are built from source by hack/tools/build.sh;
// point KUBEBUILDER_ASSETS at a directory holding kube-apiserver and etcd to
// skip that step.
package harness

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	core "github.com/meshguard/meshguard/internal/harness"
)

// The types of internal/harness, under the names the tests use.
type (
	// ControlPlane is a running kube-apiserver and etcd with the Istio CRDs.
	ControlPlane = core.ControlPlane
	// Webhook is a running `webhook serve` process.
	Webhook = core.Webhook
	// WebhookOptions are the test's choices for the webhook; StartWebhook
	// fills Dir and Logf, and LogLevel when empty.
	WebhookOptions = core.WebhookOptions
	// ChartWebhooks are the webhook configurations of one rendering of the
	// chart.
	ChartWebhooks = core.ChartWebhooks
	// Warnings records the API server's warnings to one client.
	Warnings = core.Warnings
)

// Containing returns the warnings in list that contain every one of parts.
var Containing = core.Containing

// FreePorts and Tail are the core harness's: free loopback ports, and the
// last lines of a log file.
var (
	FreePorts = core.FreePorts
	Tail      = core.Tail
)

// RepoRoot returns the repository root above the working directory, which
// go test sets to the package directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := core.RepoRoot("")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// KubebuilderAssets returns the directory with kube-apiserver and etcd:
// $KUBEBUILDER_ASSETS when set, otherwise what hack/tools/build.sh reports
// (building the binaries if they are missing; its progress goes to stderr
// so that a cold build does not look like a hang under -v).
func KubebuilderAssets(t testing.TB) string {
	t.Helper()
	dir, err := core.KubebuilderAssets(context.Background(), RepoRoot(t), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// StartControlPlane starts a control plane for the test and stops it when
// the test ends.
func StartControlPlane(t testing.TB) *ControlPlane {
	t.Helper()
	assets := KubebuilderAssets(t)
	start := time.Now()
	cp, err := core.StartControlPlane(context.Background(), RepoRoot(t), assets, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("control plane up in %s at %s", time.Since(start).Round(time.Millisecond), cp.Config.Host)
	return cp
}

// InstallGatewayAPI installs the Gateway API standard-channel CRDs of the
// version the webhook module pins (the objects `webhook convert` writes)
// and waits until they are served.
func InstallGatewayAPI(t testing.TB, cp *ControlPlane) {
	t.Helper()
	if err := cp.InstallGatewayAPI(context.Background(), RepoRoot(t)); err != nil {
		t.Fatal(err)
	}
}

// WebhookExists reports whether the repository has the webhook's main
// package yet.
func WebhookExists(t testing.TB) bool {
	t.Helper()
	return core.WebhookExists(RepoRoot(t))
}

// BuildWebhook compiles the webhook from the repository root and returns
// its path.
func BuildWebhook(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "webhook")
	if err := core.BuildWebhook(context.Background(), RepoRoot(t), bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// StartWebhook runs bin (at --log-level debug unless opts say otherwise)
// until it is ready (see internal/harness.StartWebhook) and stops it when
// the test ends; its log is printed if the test failed.
func StartWebhook(t testing.TB, bin string, opts WebhookOptions) *Webhook {
	t.Helper()
	opts.Dir = t.TempDir()
	opts.Logf = t.Logf
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	w, err := core.StartWebhook(context.Background(), bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		StopWebhook(t, w)
		if t.Failed() {
			if data, err := os.ReadFile(w.LogPath); err != nil {
				t.Logf("read webhook log: %v", err)
			} else {
				t.Logf("webhook log (%s):\n%s", w.LogPath, data)
			}
		}
	})
	return w
}

// StopWebhook stops w (see Webhook.Stop), failing the test if it ignored
// SIGTERM. Later calls, and the test's cleanup, do nothing.
func StopWebhook(t testing.TB, w *Webhook) {
	t.Helper()
	if err := w.Stop(); err != nil {
		t.Error(err)
	}
}
