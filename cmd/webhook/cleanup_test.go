package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/internal/testenv"
)

// TestRemoveWebhooks deletes the named configurations on a real API server,
// leaves others alone, and counts missing ones as deleted (a retried hook).
func TestRemoveWebhooks(t *testing.T) {
	cfg, c := testenv.Start(t, "remove-webhooks")
	ctx := context.Background()
	for _, o := range []client.Object{
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "meshguard"}},
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "meshguard"}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "someone-else"}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := writeKubeconfig(t, cfg)
	args := []string{"remove-webhooks", "--kubeconfig", kubeconfig, "--validating-webhook-configuration", "meshguard", "--mutating-webhook-configuration", "meshguard"}
	var out, errOut bytes.Buffer
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "ValidatingWebhookConfiguration meshguard: deleted") || !strings.Contains(out.String(), "MutatingWebhookConfiguration meshguard: deleted") {
		t.Errorf("output %q", out.String())
	}
	for _, o := range []client.Object{
		&admissionregistrationv1.ValidatingWebhookConfiguration{}, &admissionregistrationv1.MutatingWebhookConfiguration{},
	} {
		if err := c.Get(ctx, client.ObjectKey{Name: "meshguard"}, o); !apierrors.IsNotFound(err) {
			t.Errorf("%T meshguard still there: %v", o, err)
		}
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "someone-else"}, &admissionregistrationv1.ValidatingWebhookConfiguration{}); err != nil {
		t.Errorf("another configuration was touched: %v", err)
	}
	out.Reset()
	if code := run(args, &out, &errOut); code != 0 || !strings.Contains(out.String(), "already gone") {
		t.Errorf("second run: exit %d, output %q", code, out.String())
	}
	if code := run([]string{"remove-webhooks", "--kubeconfig", kubeconfig}, &out, &errOut); code != 2 {
		t.Errorf("without names: exit %d, want 2", code)
	}
}

// writeKubeconfig writes cfg as a kubeconfig file.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken, Impersonate: cfg.Impersonate.UserName}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	return path
}
