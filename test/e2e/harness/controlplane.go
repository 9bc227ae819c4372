package harness

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	// Imported only so that istio.io/api stays in the module graph: the
	// Istio CRDs are read from that module's directory, not from Go code.
	_ "istio.io/api/label"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// istioCRDFile is the file inside the istio.io/api module that holds every
// Istio CustomResourceDefinition.
const istioCRDFile = "kubernetes/customresourcedefinitions.gen.yaml"

// ControlPlane is a running kube-apiserver and etcd with the Istio CRDs
// installed.
type ControlPlane struct {
	// Env is the envtest environment that owns the processes.
	Env *envtest.Environment
	// Config authenticates as a member of system:masters.
	Config *rest.Config
	// Client uses Config and client-go's scheme; use unstructured objects
	// for Istio kinds.
	Client client.Client
	// Kubeconfig is the path of a kubeconfig file equivalent to Config, for
	// subprocesses such as the webhook.
	Kubeconfig string
}

// StartControlPlane starts a control plane for the test and stops it when the
// test ends.
func StartControlPlane(t testing.TB) *ControlPlane {
	t.Helper()
	env := &envtest.Environment{
		BinaryAssetsDirectory: KubebuilderAssets(t),
		CRDDirectoryPaths:     []string{IstioCRDPath(t)},
		ErrorIfCRDPathMissing: true,
		// A source build with a cold page cache starts slower than the
		// downloaded envtest binaries that the 20 s default is tuned for.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		// Start can fail after launching the processes; stop whatever runs.
		_ = env.Stop()
		t.Fatalf("start control plane from %s: %v", env.BinaryAssetsDirectory, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	t.Logf("control plane up in %s at %s", time.Since(start).Round(time.Millisecond), cfg.Host)

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return &ControlPlane{Env: env, Config: cfg, Client: c, Kubeconfig: kubeconfig}
}

// IstioCRDPath returns the Istio CRD file of the istio.io/api version that the
// test module requires, so the CRDs move with the pin in go.mod.
func IstioCRDPath(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Ask this module, not a workspace that might pin another istio.io/api.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if err := cmd.Run(); err != nil {
		t.Fatalf("locate istio.io/api: %v: %s", err, stderr.String())
	}
	dir := strings.TrimSpace(stdout.String())
	if dir == "" {
		t.Fatalf("istio.io/api is not in the module cache; run go mod download istio.io/api")
	}
	path := filepath.Join(dir, filepath.FromSlash(istioCRDFile))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("istio CRDs: %v", err)
	}
	return path
}
