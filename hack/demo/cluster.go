package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	// Imported only so that istio.io/api stays in the module graph: the
	// Istio CRDs are read from that module's directory, not from Go code.
	_ "istio.io/api/label"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshguard/meshguard/hack/demo/local"
)

// istioCRDFile is the file inside the istio.io/api module that holds every
// Istio CustomResourceDefinition.
const istioCRDFile = "kubernetes/customresourcedefinitions.gen.yaml"

// tools are the binaries that hack/tools/build.sh produces.
type tools struct {
	assets string // kube-apiserver and etcd
	helm   string
}

// buildTools runs hack/tools/build.sh (its progress goes to logPath) unless
// KUBEBUILDER_ASSETS and HELM are both set.
func buildTools(ctx context.Context, repo, logPath string) (tools, error) {
	if a, h := os.Getenv("KUBEBUILDER_ASSETS"), os.Getenv("HELM"); a != "" && h != "" {
		return tools{assets: a, helm: h}, nil
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return tools{}, err
	}
	defer logFile.Close()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "hack", "tools", "build.sh"))
	cmd.Stdout, cmd.Stderr = &stdout, logFile
	if err := cmd.Run(); err != nil {
		return tools{}, fmt.Errorf("hack/tools/build.sh: %w\n%s", err, local.Tail(logPath, 20))
	}
	var t tools
	for line := range strings.Lines(stdout.String()) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch key {
		case "KUBEBUILDER_ASSETS":
			t.assets = value
		case "HELM":
			t.helm = value
		}
	}
	if t.assets == "" || t.helm == "" {
		return tools{}, fmt.Errorf("hack/tools/build.sh printed no KUBEBUILDER_ASSETS or HELM line: %q", stdout.String())
	}
	return t, nil
}

// istioCRDPath returns the Istio CRD file of the istio.io/api version this
// module requires.
func istioCRDPath(ctx context.Context, repo string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api")
	cmd.Dir = filepath.Join(repo, "hack", "demo")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate istio.io/api: %w: %s", err, stderr.String())
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("istio.io/api is not in the module cache; run go mod download istio.io/api in hack/demo")
	}
	path := filepath.Join(dir, filepath.FromSlash(istioCRDFile))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("istio CRDs: %w", err)
	}
	return path, nil
}

// startControlPlane starts kube-apiserver and etcd with the Istio CRDs. The
// caller stops the environment, also when an error is returned.
func startControlPlane(assets, crds string) (*envtest.Environment, error) {
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		// Source-built binaries on a cold page cache start slower than the
		// 20 s default is tuned for.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	_, err := env.Start()
	return env, err
}

// register creates or replaces both webhook configurations.
func register(ctx context.Context, cs kubernetes.Interface, v *admissionregistrationv1.ValidatingWebhookConfiguration, m *admissionregistrationv1.MutatingWebhookConfiguration) error {
	vc := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if old, err := vc.Get(ctx, v.Name, metav1.GetOptions{}); err == nil {
		v.ResourceVersion = old.ResourceVersion
		_, err = vc.Update(ctx, v, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
	} else if apierrors.IsNotFound(err) {
		if _, err := vc.Create(ctx, v, metav1.CreateOptions{}); err != nil {
			return err
		}
	} else {
		return err
	}
	mc := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if old, err := mc.Get(ctx, m.Name, metav1.GetOptions{}); err == nil {
		m.ResourceVersion = old.ResourceVersion
		_, err = mc.Update(ctx, m, metav1.UpdateOptions{})
		return err
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	_, err := mc.Create(ctx, m, metav1.CreateOptions{})
	return err
}
