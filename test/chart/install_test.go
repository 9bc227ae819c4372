package chart

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// No kubelet runs the pre-delete hook's Job here: hookRunner does what
	// its pod does (tested on a real API server in cmd/webhook) and marks
	// it complete, noting what still existed when the hook ran.
	hook := startHookRunner(t, c)
	run("uninstall", "mg", "--namespace", releaseNS, "--timeout", "2m")
	seen := hook.wait(t)
	if !seen.deploymentAndService {
		t.Error("the pre-delete hook ran after the Deployment or the Service was gone")
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: fullname}, &vwc); err == nil {
		t.Errorf("helm uninstall left the ValidatingWebhookConfiguration behind")
	}
}

// hookRun is what hookRunner saw when the pre-delete Job appeared.
type hookRun struct {
	deploymentAndService bool
}

type hookRunner struct {
	done chan hookRun
}

// startHookRunner waits for the pre-delete hook Job, deletes the webhook
// configurations its args name, as `webhook remove-webhooks` does, and
// sets the Job's status to complete, as the Job controller would.
func startHookRunner(t *testing.T, c client.Client) *hookRunner {
	t.Helper()
	h := &hookRunner{done: make(chan hookRun, 1)}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		job := &batchv1.Job{}
		key := client.ObjectKey{Namespace: releaseNS, Name: fullname + "-remove-webhooks"}
		for c.Get(ctx, key, job) != nil {
			if ctx.Err() != nil {
				close(h.done)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		var seen hookRun
		seen.deploymentAndService = c.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: fullname}, &appsv1.Deployment{}) == nil &&
			c.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: fullname}, &corev1.Service{}) == nil
		for _, a := range job.Spec.Template.Spec.Containers[0].Args {
			name, value, _ := strings.Cut(a, "=")
			switch name {
			case "--validating-webhook-configuration":
				_ = c.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: value}})
			case "--mutating-webhook-configuration":
				_ = c.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: value}})
			}
		}
		now := metav1.Now()
		job.Status = batchv1.JobStatus{
			StartTime: &now, CompletionTime: &now, Succeeded: 1,
			Conditions: []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
		}
		if err := c.Status().Update(ctx, job); err != nil {
			t.Errorf("completing the hook Job: %v", err)
		}
		h.done <- seen
	}()
	return h
}

func (h *hookRunner) wait(t *testing.T) hookRun {
	t.Helper()
	seen, ok := <-h.done
	if !ok {
		t.Fatal("helm uninstall created no pre-delete hook Job")
	}
	return seen
}
