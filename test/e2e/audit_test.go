package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// auditWait bounds how long the background audit may take to report a
// change: one informer event and one evaluation.
const auditWait = 30 * time.Second

// auditReport is the body of GET /report on the metrics port.
type auditReport struct {
	Auditing bool `json:"auditing"`
	Findings []struct {
		Rule      string    `json:"rule"`
		Kind      string    `json:"kind"`
		Namespace string    `json:"namespace"`
		Name      string    `json:"name"`
		Severity  string    `json:"severity"`
		Message   string    `json:"message"`
		Since     time.Time `json:"since"`
	} `json:"findings"`
}

// TestAuditReportsExistingObjects starts the webhook on a cluster that
// already holds an Ingress, an nginx ConfigMap and a ServiceEntry meshguard
// would deny or change, and follows the audit's report and gauge as one is
// fixed and a namespace joins the mesh. No webhook is registered: the audit
// works from what the API server holds, not from admission.
func TestAuditReportsExistingObjects(t *testing.T) {
	requireWebhook(t)
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	ctx := context.Background()

	const meshed, later = "audit-meshed", "audit-later"
	create := func(objs ...client.Object) {
		t.Helper()
		for _, o := range objs {
			if err := cp.Client.Create(ctx, o); err != nil {
				t.Fatalf("create %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
			}
		}
	}
	create(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: meshed, Labels: map[string]string{"istio-injection": "enabled"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: later}},
		auditGCEIngress(meshed), auditGCEIngress(later),
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: meshed},
			Data:       map[string]string{"default.conf": "server {\n    location / {\n        proxy_pass http://backend;\n    }\n}\n"},
		},
		&unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
			"metadata": map[string]any{"name": "gce-metadata", "namespace": meshed},
			"spec": map[string]any{
				"hosts": []any{"metadata.google.internal"}, "location": "MESH_EXTERNAL", "resolution": "DNS",
				"ports": []any{map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"}},
			},
		}},
	)

	// The policy report CRDs the chart can install, so the audit's reports
	// are written and checked too.
	crds := filepath.Join(harness.ChartDir(t), "files", "crds")
	if _, err := envtest.InstallCRDs(cp.Config, envtest.CRDInstallOptions{Paths: []string{crds}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing the report CRDs: %v", err)
	}

	wh := harness.StartWebhook(t, bin, harness.WebhookOptions{
		Kubeconfig: cp.Kubeconfig,
		Mode:       "audit",
		ExtraArgs:  []string{"--audit-interval=1h", "--policy-reports", "--policy-report-interval=1s", "--events"},
	})

	ingress := "ingress-in-mesh Ingress " + meshed + "/web"
	waitAudit(t, wh, "objects created before the webhook started are reported", func(got map[string]bool) bool {
		return got[ingress] && got["nginx-http11 ConfigMap "+meshed+"/nginx"] &&
			got["gce-metadata-address ServiceEntry "+meshed+"/gce-metadata"] && !got["ingress-in-mesh Ingress "+later+"/web"]
	})
	waitPolicyReport(t, cp.Client, meshed, "the existing objects' results",
		"gce-metadata-address ServiceEntry gce-metadata fail", "ingress-in-mesh Ingress web fail", "nginx-http11 ConfigMap nginx fail")
	waitForEvent(t, cp.Client, auditGCEIngress(meshed), "MeshguardViolation", "[ingress-in-mesh] enforce mode would deny this object:")
	gauge := `meshguard_violations{namespace="` + meshed + `",rule="ingress-in-mesh"} 1`
	if m := auditMetrics(t, wh); !strings.Contains(m, gauge) {
		t.Errorf("/metrics lacks %s:\n%s", gauge, m)
	}

	// Serving the Ingress with Istio is the fix: the finding and its series go.
	var ing networkingv1.Ingress
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: meshed, Name: "web"}, &ing); err != nil {
		t.Fatal(err)
	}
	ing.Annotations["kubernetes.io/ingress.class"] = "istio"
	if err := cp.Client.Update(ctx, &ing); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, wh, "the fixed Ingress is cleared", func(got map[string]bool) bool { return !got[ingress] })
	// Served by Istio, it is advice now (use the Gateway API): a warn result.
	waitPolicyReport(t, cp.Client, meshed, "the fixed Ingress's failure gone",
		"gce-metadata-address ServiceEntry gce-metadata fail", "ingress-in-mesh Ingress web warn", "nginx-http11 ConfigMap nginx fail")
	if m := auditMetrics(t, wh); strings.Contains(m, `meshguard_violations{namespace="`+meshed+`",rule="ingress-in-mesh"}`) {
		t.Errorf("the ingress-in-mesh series outlived its last finding:\n%s", m)
	}

	// A namespace joining the mesh brings its Ingresses into the report.
	var ns corev1.Namespace
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: later}, &ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels = map[string]string{"istio-injection": "enabled"}
	if err := cp.Client.Update(ctx, &ns); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, wh, "the Ingress of a namespace that joined the mesh is reported", func(got map[string]bool) bool {
		return got["ingress-in-mesh Ingress "+later+"/web"]
	})
	waitPolicyReport(t, cp.Client, later, "the joining namespace's report", "ingress-in-mesh Ingress web fail")
}

// waitPolicyReport waits until the PolicyReport meshguard writes in ns
// holds exactly the results "policy kind name result", sorted.
func waitPolicyReport(t *testing.T, c client.Client, ns, what string, want ...string) {
	t.Helper()
	harness.WaitFor(t, auditWait, "PolicyReport "+ns+"/meshguard: "+what, func() error {
		r := &unstructured.Unstructured{}
		r.SetAPIVersion("wgpolicyk8s.io/v1alpha2")
		r.SetKind("PolicyReport")
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "meshguard"}, r); err != nil {
			return err
		}
		results, _, _ := unstructured.NestedSlice(r.Object, "results")
		var got []string
		for _, x := range results {
			res := x.(map[string]any)
			ref := res["resources"].([]any)[0].(map[string]any)
			got = append(got, fmt.Sprintf("%s %s %s %s", res["policy"], ref["kind"], ref["name"], res["result"]))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("results %q, want %q", got, want)
		}
		return nil
	})
}

// auditGCEIngress is an Ingress served by the GCE load balancer, which
// ingress-in-mesh denies in a mesh-enabled namespace.
func auditGCEIngress(ns string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Annotations: map[string]string{"kubernetes.io/ingress.class": "gce"}},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}},
		}},
	}
}

// waitAudit polls /report until want accepts its findings, as
// "rule kind namespace/name" keys (advice: with " (warn)" appended), or
// fails the test after auditWait.
func waitAudit(t *testing.T, wh *harness.Webhook, what string, want func(map[string]bool) bool) {
	t.Helper()
	var last string
	harness.WaitFor(t, auditWait, what, func() error {
		body, err := auditGet(wh, "/report")
		if err != nil {
			return err
		}
		last = body
		var r auditReport
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return fmt.Errorf("decoding /report: %w", err)
		}
		got := map[string]bool{}
		for _, f := range r.Findings {
			if f.Message == "" || f.Since.IsZero() {
				return fmt.Errorf("finding without message or since: %+v", f)
			}
			k := f.Rule + " " + f.Kind + " " + f.Namespace + "/" + f.Name
			if f.Severity == "warn" {
				k += " (warn)"
			}
			got[k] = true
		}
		if !r.Auditing || !want(got) {
			return fmt.Errorf("not yet; /report: %s", last)
		}
		return nil
	})
}

func auditMetrics(t *testing.T, wh *harness.Webhook) string {
	t.Helper()
	body, err := auditGet(wh, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func auditGet(wh *harness.Webhook, path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+wh.MetricsAddr+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return string(b), err
}
