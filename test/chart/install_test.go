package chart

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestHelmInstall runs the real `helm install` of the chart against a real
// kube-apiserver: every object must pass the API server's own validation
// (no pods run here, so this proves the objects, not the workload), and
// `helm uninstall` must remove them again.
func TestHelmInstall(t *testing.T) {
	helm := helmBinary(t)
	env := &envtest.Environment{BinaryAssetsDirectory: kubebuilderAssets(t)}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "helm", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcFile := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, os.WriteFile(kcFile, kubeconfig, 0o600))
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(helm, append(args, "--kubeconfig", kcFile)...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, out)
		}
	}
	run("install", "mg", chartDir, "--namespace", releaseNS, "--create-namespace", "--timeout", "2m")

	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objects := map[string]client.Object{
		"the Deployment":                     &appsv1.Deployment{},
		"the Service":                        &corev1.Service{},
		"the ServiceAccount":                 &corev1.ServiceAccount{},
		"the PodDisruptionBudget":            &policyv1.PodDisruptionBudget{},
		"the certificate Secret":             &corev1.Secret{},
		"the ClusterRole":                    &rbacv1.ClusterRole{},
		"the ValidatingWebhookConfiguration": &admissionregistrationv1.ValidatingWebhookConfiguration{},
		"the MutatingWebhookConfiguration":   &admissionregistrationv1.MutatingWebhookConfiguration{},
	}
	names := map[string]client.ObjectKey{
		"the certificate Secret": {Namespace: releaseNS, Name: fullname + "-tls"},
	}
	for what, obj := range objects {
		key, ok := names[what]
		if !ok {
			key = client.ObjectKey{Namespace: releaseNS, Name: fullname}
		}
		if _, cluster := obj.(*rbacv1.ClusterRole); cluster {
			key.Namespace = ""
		}
		if _, ok := obj.(*admissionregistrationv1.ValidatingWebhookConfiguration); ok {
			key.Namespace = ""
		}
		if _, ok := obj.(*admissionregistrationv1.MutatingWebhookConfiguration); ok {
			key.Namespace = ""
		}
		if err := c.Get(ctx, key, obj); err != nil {
			t.Errorf("%s %v was not installed: %v", what, key, err)
		}
	}
	run("uninstall", "mg", "--namespace", releaseNS, "--timeout", "2m")
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: fullname}, &vwc); err == nil {
		t.Errorf("helm uninstall left the ValidatingWebhookConfiguration behind")
	}
}
