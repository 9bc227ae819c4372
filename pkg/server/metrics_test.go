package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/meshguard/meshguard/internal/testenv"
)

// TestSecureMetricsNeedAnAuthorisedCaller serves metrics as the chart does
// (--metrics-secure) against a real API server: no token is 401, a token
// whose account may not get /metrics is 403, one that may is 200. The
// audit's /report sits behind the same check.
func TestSecureMetricsNeedAnAuthorisedCaller(t *testing.T) {
	cfg, c := testenv.Start(t, "authenticated and authorised /metrics")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Logger: logr.Discard(), Metrics: metricsOptions(Options{MetricsAddr: addr, MetricsSecure: true})})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.AddMetricsServerExtraHandler("/report", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") })); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()

	cs := kubernetes.NewForConfigOrDie(cfg)
	token := func(name string) string {
		t.Helper()
		if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	scraper, stranger := token("prometheus"), token("stranger")
	if err := c.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics", "/report"}, Verbs: []string{"get"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: "default"}}}); err != nil {
		t.Fatal(err)
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path, token string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+path, nil)
		if err != nil {
			return 0, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	// The server comes up, and RBAC reaches the authorizer, a moment later.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, err := get("/metrics", scraper)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the authorised scraper never got /metrics: %d %v", code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, tc := range []struct {
		path, token, who string
		want             int
	}{
		{"/metrics", "", "no token", http.StatusUnauthorized},
		{"/metrics", stranger, "an account without the ClusterRole", http.StatusForbidden},
		{"/report", stranger, "an account without the ClusterRole", http.StatusForbidden},
		{"/report", scraper, "the bound scraper", http.StatusOK},
	} {
		if code, err := get(tc.path, tc.token); err != nil || code != tc.want {
			t.Errorf("GET %s with %s: %d %v, want %d", tc.path, tc.who, code, err, tc.want)
		}
	}
	if code, err := get("/metrics", "not-a-token"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("GET /metrics with a forged token: %d %v, want 401", code, err)
	}
	if code, err := plainGet(addr); err == nil && code == http.StatusOK {
		t.Error("plain HTTP still serves /metrics")
	}
}

// plainGet tries /metrics over plain HTTP.
func plainGet(addr string) (int, error) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}
