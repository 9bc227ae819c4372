package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// TestConvertStoryMigration walks the story's migration on a real API
// server with the Gateway API CRDs of the version meshguard writes for: the
// audit finds the story's Ingress in a meshed namespace and names the
// command; that command reads the Ingress from the cluster; its output is
// applied; the Ingress is deleted; and then the audit and the converter
// both report nothing left to migrate.
func TestConvertStoryMigration(t *testing.T) {
	requireWebhook(t)
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	harness.InstallGatewayAPI(t, cp)
	ctx := context.Background()

	const ns = "my-app"
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"istio-injection": "enabled"}}}); err != nil {
		t.Fatal(err)
	}
	ing := storyIngress(t, ns)
	if err := cp.Client.Create(ctx, ing); err != nil {
		t.Fatal(err)
	}
	wh := harness.StartWebhook(t, bin, harness.WebhookOptions{Kubeconfig: cp.Kubeconfig, Mode: "audit", ExtraArgs: []string{"--audit-interval=1h"}})
	finding := "ingress-in-mesh Ingress " + ns + "/my-app"
	waitAudit(t, wh, "the story's Ingress is reported", func(got map[string]bool) bool { return got[finding] })
	const command = "`kubectl meshguard convert -n my-app my-app`"
	if body, err := auditGet(wh, "/report"); err != nil || !strings.Contains(body, command) {
		t.Errorf("the audit's finding does not name %s (err %v):\n%s", command, err, body)
	}

	// The command of the finding, run as the kubectl plugin would run it.
	code, out, stderr := runBinary(t, bin, "convert", "--kubeconfig", cp.Kubeconfig, "-n", ns, "my-app")
	if code != 1 || !strings.Contains(stderr, "kubernetes.io/ingress.global-static-ip-name: not-carried") {
		t.Fatalf("convert: exit %d (want 1: the static IP is not carried); stderr:\n%s", code, stderr)
	}
	objs := decodeStream(t, out)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatalf("the API server refuses %s %s/%s: %v\n%s", o.GetKind(), o.GetNamespace(), o.GetName(), err, out)
		}
	}
	if kinds["Gateway"] != 1 || kinds["HTTPRoute"] != 1 {
		t.Errorf("applied %v, want one Gateway and one HTTPRoute", kinds)
	}

	if err := cp.Client.Delete(ctx, ing); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, wh, "nothing is left to migrate after the Ingress is deleted", func(got map[string]bool) bool {
		for k := range got {
			if strings.Contains(k, " "+ns+"/") {
				return false
			}
		}
		return true
	})
	code, out, stderr = runBinary(t, bin, "convert", "--kubeconfig", cp.Kubeconfig, "-n", ns)
	if code != 0 || out != "" || !strings.Contains(stderr, `namespace "my-app" holds no Ingress: nothing to convert`) {
		t.Errorf("re-converting the namespace: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestConvertedObjectsPassServerDryRun converts every input of the
// converter's goldens and, when ../shared is beside the repository, every
// real-world Ingress of its corpus, to both targets, and creates each object
// in a server-side dry run against the Gateway API CRDs and Istio's, whose
// OpenAPI and CEL rules then judge it.
func TestConvertedObjectsPassServerDryRun(t *testing.T) {
	requireWebhook(t)
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	harness.InstallGatewayAPI(t, cp)

	root := harness.RepoRoot(t)
	inputs, err := filepath.Glob(filepath.Join(root, "pkg", "convert", "testdata", "*.in.yaml"))
	if err != nil || len(inputs) < 5 {
		t.Fatalf("the converter's golden inputs: %v (%d found)", err, len(inputs))
	}
	corpus := filepath.Join(root, "..", "shared", "corpus", "ingress")
	if extra, _ := filepath.Glob(filepath.Join(corpus, "*.yaml")); len(extra) > 0 {
		inputs = append(inputs, extra...)
	} else {
		t.Logf("!!! INGRESS CORPUS MISSING: %s — the real-world Ingresses of ../shared are NOT converted and dry-run here; clone the repository with shared/ beside it", corpus)
	}
	namespaces := map[string]bool{}
	total := 0
	for _, in := range inputs {
		for _, to := range []string{"gateway-api", "istio"} {
			t.Run(filepath.Base(in)+"/"+to, func(t *testing.T) {
				code, out, stderr := runBinary(t, bin, "convert", "-f", in, "--to", to)
				if code == 2 {
					t.Fatalf("convert refuses the input: %s", stderr)
				}
				if strings.Contains(stderr, "holds no Ingress") {
					return
				}
				objs := decodeStream(t, out)
				if len(objs) == 0 {
					// Nothing can serve it (HTTPS only, no certificate in the
					// cluster): the report must say so.
					if !strings.Contains(stderr, "none was written") {
						t.Fatalf("no objects for an input with Ingresses, and the report does not say why:\n%s", stderr)
					}
					return
				}
				for _, o := range objs {
					if ns := o.GetNamespace(); ns != "" && !namespaces[ns] {
						err := cp.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
						if err != nil && !apierrors.IsAlreadyExists(err) {
							t.Fatal(err)
						}
						namespaces[ns] = true
					}
					if err := cp.Client.Create(context.Background(), o, client.DryRunAll); err != nil {
						t.Errorf("the API server refuses %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
					}
					total++
				}
			})
		}
	}
	t.Logf("%d objects from %d inputs accepted in a server-side dry run", total, len(inputs))
}

// runBinary runs bin with args and returns its exit code and output.
func runBinary(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent")
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return code, out.String(), errOut.String()
}

// decodeStream reads the YAML stream `webhook convert` writes.
func decodeStream(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(stream, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		o := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &o.Object); err != nil {
			t.Fatalf("output document does not decode: %v\n%s", err, doc)
		}
		objs = append(objs, o)
	}
	return objs
}
