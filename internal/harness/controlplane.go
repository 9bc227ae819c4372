package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	// Imported only so that istio.io/api stays in this module's graph: the
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

// StartControlPlane starts kube-apiserver and etcd from the directory assets
// with the Istio CRDs of the istio.io/api version this module pins (found
// through repo), and writes a kubeconfig into dir. On error, whatever had
// started is stopped.
func StartControlPlane(ctx context.Context, repo, assets, dir string) (*ControlPlane, error) {
	crds, err := IstioCRDPath(ctx, repo)
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		// A source build with a cold page cache starts slower than the
		// downloaded envtest binaries that the 20 s default is tuned for.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	cp := &ControlPlane{Env: env}
	if cp.Config, err = env.Start(); err != nil {
		// Start can fail after launching the processes.
		_ = env.Stop()
		return nil, fmt.Errorf("start control plane from %s: %w", assets, err)
	}
	cp.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err = os.WriteFile(cp.Kubeconfig, env.KubeConfig, 0o600); err == nil {
		cp.Client, err = client.New(cp.Config, client.Options{Scheme: scheme.Scheme})
	}
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return cp, nil
}

// Stop stops kube-apiserver and etcd. Stop any webhook first: the API
// server waits for its watches to end.
func (cp *ControlPlane) Stop() error {
	if cp == nil {
		return nil
	}
	if err := cp.Env.Stop(); err != nil {
		return fmt.Errorf("stop control plane: %w", err)
	}
	return nil
}

// IstioCRDPath returns the Istio CRD file of the istio.io/api version that
// this module (internal/harness in repo) requires, so the CRDs move with the
// pin in its go.mod. It downloads the module if the cache lacks it.
func IstioCRDPath(ctx context.Context, repo string) (string, error) {
	return moduleFile(ctx, filepath.Join(repo, "internal", "harness"), "istio.io/api", istioCRDFile)
}

// gatewayAPICRDDir is the folder inside sigs.k8s.io/gateway-api that holds
// the standard channel's CustomResourceDefinitions.
const gatewayAPICRDDir = "config/crd/standard"

// GatewayAPICRDPath returns the folder of the Gateway API standard-channel
// CRDs of the sigs.k8s.io/gateway-api version the webhook module (repo's
// root) requires: the version `webhook convert` writes objects for.
func GatewayAPICRDPath(ctx context.Context, repo string) (string, error) {
	return moduleFile(ctx, repo, "sigs.k8s.io/gateway-api", gatewayAPICRDDir)
}

// InstallGatewayAPI installs the Gateway API standard-channel CRDs that
// GatewayAPICRDPath finds and waits until they are served.
func (cp *ControlPlane) InstallGatewayAPI(ctx context.Context, repo string) error {
	dir, err := GatewayAPICRDPath(ctx, repo)
	if err != nil {
		return err
	}
	crds, err := envtest.InstallCRDs(cp.Config, envtest.CRDInstallOptions{Paths: []string{dir}, ErrorIfPathMissing: true})
	if err != nil {
		return fmt.Errorf("installing the Gateway API CRDs from %s: %w", dir, err)
	}
	if len(crds) < 5 {
		return fmt.Errorf("only %d Gateway API CRDs in %s", len(crds), dir)
	}
	return nil
}

// moduleFile returns the path of file inside the version of module that the
// Go module in dir requires, downloading the module if the cache lacks it.
func moduleFile(ctx context.Context, dir, module, file string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	goCmd := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		// Ask this module, not a workspace that might pin another version.
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		return strings.TrimSpace(stdout.String()), nil
	}
	modDir, err := goCmd("list", "-m", "-f", "{{.Dir}}", module)
	if err == nil && modDir == "" {
		if _, err = goCmd("mod", "download", module); err == nil {
			modDir, err = goCmd("list", "-m", "-f", "{{.Dir}}", module)
		}
	}
	if err != nil {
		return "", fmt.Errorf("locate %s: %w", module, err)
	}
	if modDir == "" {
		return "", fmt.Errorf("%s is not in the module cache; run go mod download %s in %s", module, module, dir)
	}
	path := filepath.Join(modDir, filepath.FromSlash(file))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s: %w", module, err)
	}
	return path, nil
}
