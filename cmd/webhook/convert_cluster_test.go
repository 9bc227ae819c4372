package main

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/internal/testenv"
)

// TestConvertFromCluster reads Ingresses from a real API server as a user
// who may only get and list Ingresses and Services: named ports resolve from
// the cluster's Services, -n, names and -A select what is read, and the
// IngressClasses the user may not list are reported, not fatal.
func TestConvertFromCluster(t *testing.T) {
	cfg, c := testenv.Start(t, "webhook convert reading a cluster")
	for _, ns := range []string{"shop", "blog"} {
		create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	create(t, c, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
	})
	create(t, c, clusterIngress("shop", "web", "shop.example.com", networkingv1.ServiceBackendPort{Name: "http"}))
	create(t, c, clusterIngress("shop", "api", "api.example.com", networkingv1.ServiceBackendPort{Number: 9090}))
	create(t, c, clusterIngress("blog", "blog", "blog.example.com", networkingv1.ServiceBackendPort{Number: 80}))
	create(t, c, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-reader"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list"}},
		},
	})
	create(t, c, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "ingress-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "reader"}},
	})
	reader := rest.CopyConfig(cfg)
	reader.Impersonate.UserName = "reader"
	kubeconfig := writeKubeconfig(t, reader)

	tests := map[string]struct {
		args           []string
		code           int
		routes, absent []string
		stderr         string
	}{
		"a namespace": {
			args: []string{"-n", "shop"}, code: 0,
			routes: []string{"hostnames:\n  - shop.example.com", "name: web\n      port: 8080", "hostnames:\n  - api.example.com"},
			absent: []string{"blog.example.com"},
		},
		"one Ingress by name, flags after it": {
			args: []string{"web", "-n", "shop"}, code: 0,
			routes: []string{"shop.example.com"}, absent: []string{"api.example.com", "blog.example.com"},
		},
		"all namespaces": {
			args: []string{"-A"}, code: 0,
			routes: []string{"shop.example.com", "api.example.com", "blog.example.com", "namespace: blog"},
		},
		"a missing Ingress": {
			args: []string{"-n", "shop", "gone"}, code: 2, stderr: `Ingress "gone" not found in namespace "shop"`,
		},
		"an empty namespace": {
			args: []string{"-n", "empty"}, code: 0, stderr: `namespace "empty" holds no Ingress`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runConvert(t, "", append([]string{"--kubeconfig", kubeconfig}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut)
			}
			for _, want := range tc.routes {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, not := range tc.absent {
				if strings.Contains(out, not) {
					t.Errorf("output holds %q, which is outside the scope:\n%s", not, out)
				}
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errOut)
			}
			if code != 2 && tc.stderr == "" && !strings.Contains(errOut, "cannot list IngressClasses (forbidden)") {
				t.Errorf("the forbidden IngressClass list is not reported:\n%s", errOut)
			}
		})
	}
}

func clusterIngress(ns, name, host string, port networkingv1.ServiceBackendPort) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("gce"),
			Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: name, Port: port},
				}}},
			}}}},
		},
	}
}

func create(t *testing.T, c client.Client, o client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
	}
}
