package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"github.com/meshguard/meshguard/internal/testenv"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// serviceAccount is the identity the test's manager impersonates, holding
// only the self mode's RBAC from the chart.
const serviceAccount = "system:serviceaccount:meshguard:meshguard"

// TestSelfModeAgainstAPIServer runs the self mode against a real API server
// as a user that holds exactly the chart's self-mode RBAC: the Secret is
// filled, the files written, the CA injected, and a forced rotation of the
// serving certificate keeps the CA.
func TestSelfModeAgainstAPIServer(t *testing.T) {
	assets := testenv.KubebuilderAssets()
	if assets == "" {
		t.Skip("SKIPPED: no kube-apiserver: set KUBEBUILDER_ASSETS, or run `bash hack/tools/build.sh` to fill the cache this test looks in")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	admin, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(admin, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := validSelf()
	cfg.Dir = filepath.Join(t.TempDir(), "certs")
	cfg.ExtraDNSNames = []string{"localhost"} // how a test calls a webhook by URL
	for _, obj := range selfModeObjects(cfg) {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}

	asServiceAccount := rest.CopyConfig(admin)
	asServiceAccount.Impersonate = rest.ImpersonationConfig{UserName: serviceAccount}
	mgr, err := ctrl.NewManager(asServiceAccount, ctrl.Options{
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Logger: testr.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.setup(mgr, prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	mgrCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	eventually(t, time.Minute, "rotator ready", func() bool { return p.rotatorReady(nil) == nil })
	if err := p.watcher.Ready(nil); err != nil {
		t.Fatalf("the rotator is ready but the watcher is not: %v", err)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: cfg.Namespace, Name: cfg.Secret}, secret); err != nil {
		t.Fatal(err)
	}
	caPEM := secret.Data["ca.crt"]
	for _, bundle := range caBundles(ctx, t, c, cfg) {
		if !bytes.Equal(bundle, caPEM) {
			t.Fatalf("caBundle %.60q… is not the Secret's CA", bundle)
		}
	}
	first := servedAndVerified(t, p, caPEM, cfg.Service)
	servedAndVerified(t, p, caPEM, "localhost")

	// Force a rotation of the serving certificate the way an operator would:
	// drop it from the Secret. The CA stays, so the API server notices nothing.
	delete(secret.Data, CertFile)
	delete(secret.Data, KeyFile)
	if err := c.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "rotated certificate served", func() bool {
		cur := p.watcher.Certificate()
		return cur != nil && !bytes.Equal(cur.Certificate[0], first)
	})
	servedAndVerified(t, p, caPEM, cfg.Service)
	for _, bundle := range caBundles(ctx, t, c, cfg) {
		if !bytes.Equal(bundle, caPEM) {
			t.Fatal("the CA changed on a serving-certificate rotation")
		}
	}
}

// servedAndVerified checks that the served certificate chains to caPEM for
// dnsName, and returns its DER.
func servedAndVerified(t *testing.T, p *Provider, caPEM []byte, dnsName string) []byte {
	t.Helper()
	cert, err := p.watcher.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leafOf(cert).Verify(x509.VerifyOptions{Roots: roots, DNSName: dnsName}); err != nil {
		t.Fatalf("the served certificate does not verify against the injected CA: %v", err)
	}
	return cert.Certificate[0]
}

func caBundles(ctx context.Context, t *testing.T, c client.Client, cfg Config) [][]byte {
	t.Helper()
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: cfg.ValidatingWebhookConfiguration}, v); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: cfg.MutatingWebhookConfiguration}, m); err != nil {
		t.Fatal(err)
	}
	return [][]byte{v.Webhooks[0].ClientConfig.CABundle, m.Webhooks[0].ClientConfig.CABundle}
}

// selfModeObjects are what the chart installs for the self mode: the empty
// Secret, the webhook configurations without caBundle, and the RBAC (mirrors
// deploy/charts/meshguard/templates/rbac.yaml; test/chart checks the chart's
// side).
func selfModeObjects(cfg Config) []client.Object {
	none := admissionregistrationv1.SideEffectClassNone
	clientConfig := admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
		Namespace: cfg.Namespace, Name: "meshguard", Path: ptr.To("/validate"),
	}}
	names := []string{cfg.ValidatingWebhookConfiguration}
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Secret}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: cfg.ValidatingWebhookConfiguration},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: "ingress.validate.meshguard.dev", ClientConfig: clientConfig,
				SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			}},
		},
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: cfg.MutatingWebhookConfiguration},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name: "configmap.mutate.meshguard.dev", ClientConfig: clientConfig,
				SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			}},
		},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "meshguard-certs"},
			Rules: []rbacv1.PolicyRule{{
				APIGroups:     []string{"admissionregistration.k8s.io"},
				Resources:     []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"},
				ResourceNames: append(names, cfg.MutatingWebhookConfiguration),
				Verbs:         []string{"get", "list", "watch", "update"},
			}},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "meshguard-certs"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "meshguard-certs"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "meshguard", Name: "meshguard"}},
		},
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: cfg.Namespace, Name: "meshguard-certs"},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{cfg.Secret},
				Verbs: []string{"get", "list", "watch", "update"},
			}},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: cfg.Namespace, Name: "meshguard-certs"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "meshguard-certs"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "meshguard", Name: "meshguard"}},
		},
	}
}
