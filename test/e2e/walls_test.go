package e2e

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// wallCases are the story's two other walls, run by TestRulesThroughChart
// in both modes: TLS from the gateway's mounted files, and plain-text
// probes under STRICT mutual TLS.
func wallCases() map[string]func(t *testing.T, e *ruleEnv) {
	return map[string]func(t *testing.T, e *ruleEnv){
		"the story's Gateway with file-mounted certificates gets credentialName, or is stored as written with a warning in audit": func(t *testing.T, e *ruleEnv) {
			c, rec := e.client(t)
			ns := createNamespace(t, e.admin, "gateway", nil)
			gw := storyGateway(t, ns)
			want := "[gateway-credential-name]"
			if e.mode == "audit" {
				want = "[gateway-credential-name] (audit) would change"
			}
			createWithWarning(t, c, rec, gw, want, "credentialName: istio-ingressgateway-certs")
			back := &unstructured.Unstructured{}
			back.SetGroupVersionKind(gw.GroupVersionKind())
			if err := e.admin.Get(context.Background(), client.ObjectKeyFromObject(gw), back); err != nil {
				t.Fatalf("read back: %v", err)
			}
			servers, _, _ := unstructured.NestedSlice(back.Object, "spec", "servers")
			if len(servers) != 1 {
				t.Fatalf("servers = %v", servers)
			}
			tls, _, _ := unstructured.NestedStringMap(servers[0].(map[string]any), "tls")
			if e.mode == "audit" {
				if tls["serverCertificate"] == "" || tls["credentialName"] != "" {
					t.Errorf("audit changed the TLS settings: %v", tls)
				}
				return
			}
			if tls["credentialName"] != "istio-ingressgateway-certs" || tls["serverCertificate"] != "" || tls["privateKey"] != "" || tls["mode"] != "SIMPLE" {
				t.Errorf("stored tls = %v, want credentialName istio-ingressgateway-certs and no file paths", tls)
			}
		},
		"a Deployment turning probe rewriting off warns under STRICT mTLS only, and an ordinary Deployment never reaches the webhook": func(t *testing.T, e *ruleEnv) {
			c, rec := e.client(t)
			strict := createNamespace(t, e.admin, "probes-strict", meshed)
			loose := createNamespace(t, e.admin, "probes", meshed)
			pa := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
				"metadata": map[string]any{"name": "default", "namespace": strict},
				"spec":     map[string]any{"mtls": map[string]any{"mode": "STRICT"}},
			}}
			if err := e.admin.Create(context.Background(), pa); err != nil {
				t.Fatalf("create PeerAuthentication: %v", err)
			}
			// The webhook's informer sees the PeerAuthentication a moment
			// after it is stored; createWithWarning retries dry runs until then.
			createWithWarning(t, c, rec, probedDeployment(strict, "web", true), "[probe-rewrite-disabled]",
				`Deployment "web"`, "mode STRICT", `container "web" readinessProbe (httpGet /ready on port 8080)`)

			if err := c.Create(context.Background(), probedDeployment(loose, "web", true)); err != nil {
				t.Fatalf("create without STRICT: %v", err)
			}
			if got := harness.Containing(rec.Take(), "[probe-rewrite-disabled]"); len(got) != 0 {
				t.Errorf("without STRICT: warnings %q, want none", got)
			}

			before := validateRequests(t, e.webhook)
			if before == 0 {
				t.Fatal("no /validate request counted, though the annotated Deployments were sent: the metric is not read")
			}
			if err := c.Create(context.Background(), probedDeployment(strict, "plain", false)); err != nil {
				t.Fatalf("create an ordinary Deployment: %v", err)
			}
			if after := validateRequests(t, e.webhook); after != before {
				t.Errorf("an ordinary Deployment reached /validate: %v requests before, %v after", before, after)
			}
		},
	}
}

// storyGateway is the story's Gateway, TLS from the mounted files.
func storyGateway(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(harness.RepoRoot(t) + "/pkg/mutate/testdata/gateway-credential-name/story-2018.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &gw.Object); err != nil {
		t.Fatal(err)
	}
	gw.SetNamespace(ns)
	return gw
}

// probedDeployment has an HTTP readiness probe, with probe rewriting off
// when rewriteOff.
func probedDeployment(ns, name string, rewriteOff bool) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	var annotations map[string]string
	if rewriteOff {
		annotations = map[string]string{"sidecar.istio.io/rewriteAppHTTPProbers": "false"}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.example.com/web:1",
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}},
				}}},
			},
		},
	}
}

var validateRequestsLine = regexp.MustCompile(`(?m)^controller_runtime_webhook_requests_total\{code="[0-9]+",webhook="/validate"\} ([0-9.e+]+)$`)

// validateRequests sums the webhook's /validate requests from its metrics.
func validateRequests(t *testing.T, wh *harness.Webhook) float64 {
	t.Helper()
	body, err := auditGet(wh, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, m := range validateRequestsLine.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		sum += v
	}
	return sum
}
