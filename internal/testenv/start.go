package testenv

import (
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Start runs kube-apiserver and etcd for the test and stops them when it
// ends. Without the binaries it fails in CI and skips loudly elsewhere,
// saying what is not tested.
func Start(t testing.TB, what string) (*rest.Config, client.Client) {
	t.Helper()
	assets := KubebuilderAssets()
	if assets == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no kube-apiserver in CI: run `bash hack/tools/build.sh` and export KUBEBUILDER_ASSETS")
		}
		t.Skip("\n!!! SKIPPED: no kube-apiserver, " + what + " is NOT tested against an API server." +
			"\n!!! Run `eval \"$(bash hack/tools/build.sh)\"` and test again.")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 90 * time.Second}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c
}
