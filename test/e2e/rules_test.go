package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// meshed are the labels of a namespace in the mesh, as in
// examples/story/namespace.yaml.
var meshed = map[string]string{"istio-injection": "enabled"}

// metadataIP is the GCE metadata server's address.
const metadataIP = "169.254.169.254"

// ruleEnv is what a rule case gets: the control plane, the webhook's mode,
// and the --fix expectation of the story's ConfigMap.
type ruleEnv struct {
	mode  string
	cfg   *rest.Config
	admin client.Client
	// fixedNginx is default.conf as `webhook check --fix` writes it.
	fixedNginx string
	webhook    *harness.Webhook
}

// client returns a fresh client for one case, with its warnings recorded.
func (e *ruleEnv) client(t *testing.T) (client.Client, *harness.Warnings) {
	t.Helper()
	return warningClient(t, e.cfg)
}

// TestRulesThroughChart runs every rule through the real API server, with
// the chart's own webhook configurations (selectors, matchConditions, rules,
// failurePolicy as users get them) pointed at the real `webhook serve`, once
// in enforce mode and once in audit mode, on one control plane. Each case
// works in namespaces of its own.
func TestRulesThroughChart(t *testing.T) {
	requireWebhook(t)
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	fixed := fixedConfigMapValue(t, bin, "default.conf")
	// What `webhook check --fix` writes for the story's ConfigMap, which the
	// webhook must store: one line, `proxy_http_version 1.1;`, inserted at the
	// top of `location /`, indented like its neighbours, every other byte kept.
	t.Run("check --fix inserts proxy_http_version 1.1 into the story's location", func(t *testing.T) {
		original := storyConfigMap(t, "my-app").Data["default.conf"]
		want := strings.Replace(original,
			"    location / {\n",
			"    location / {\n        proxy_http_version 1.1;\n", 1)
		if want == original {
			t.Fatal("examples/story/nginx-configmap.yaml has no `location / {` line")
		}
		if fixed != want {
			t.Errorf("check --fix wrote:\n%s\nwant:\n%s", fixed, want)
		}
	})

	cases := map[string]func(t *testing.T, e *ruleEnv){
		"the story's gce Ingress in a meshed namespace is denied with the static IP note, or created with a would-deny warning in audit": func(t *testing.T, e *ruleEnv) {
			c, rec := e.client(t)
			ns := createNamespace(t, e.admin, "ingress", meshed)
			ing := storyIngress(t, ns)
			if e.mode == "enforce" {
				err := createUntilDenied(t, c, ing)
				for _, want := range []string{
					"[ingress-in-mesh]",
					`Ingress "my-app" is not allowed in namespace "` + ns + `"`,
					`note that the global static IP "gad-my-app" (kubernetes.io/ingress.global-static-ip-name) cannot be attached to the Istio ingress gateway`,
				} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("denial %q does not contain %q", err, want)
					}
				}
				return
			}
			got := createWithWarning(t, c, rec, ing, "[ingress-in-mesh] (audit) would deny:")
			if len(harness.Containing(got, `global static IP "gad-my-app"`)) == 0 {
				t.Errorf("warnings %q do not carry the global static IP note", got)
			}
			mustExist(t, e.admin, ing)
			// The owners see it where they look: an Event on the Ingress.
			waitForEvent(t, e.admin, ing, "MeshguardWouldDeny", "[ingress-in-mesh] audit mode let this write through; enforce mode would deny it:")
		},
		"the story's gce Ingress in an unlabelled namespace is created without a warning": func(t *testing.T, e *ruleEnv) {
			c, rec := e.client(t)
			ns := createNamespace(t, e.admin, "plain", nil)
			ing := storyIngress(t, ns)
			if err := c.Create(context.Background(), ing); err != nil {
				t.Fatalf("create: %v", err)
			}
			if got := meshguardWarnings(rec.Take()); len(got) != 0 {
				t.Errorf("meshguard warnings = %q, want none", got)
			}
		},
		"an Istio-class Ingress in a meshed namespace is created with the Gateway API warning": func(t *testing.T, e *ruleEnv) {
			c, rec := e.client(t)
			ns := createNamespace(t, e.admin, "istio-class", meshed)
			ing := storyIngress(t, ns)
			ing.Annotations["kubernetes.io/ingress.class"] = "istio"
			got := createWithWarning(t, c, rec, ing, "[ingress-in-mesh]", "served by Istio", "Gateway API")
			if len(harness.Containing(got, "would deny")) != 0 {
				t.Errorf("warnings %q speak of a denial", got)
			}
			mustExist(t, e.admin, ing)
		},
		"the story's nginx ConfigMap in a meshed namespace is stored with HTTP/1.1 exactly as --fix writes it, or unchanged with a would-change warning in audit": func(t *testing.T, e *ruleEnv) {
			c, rec := e.client(t)
			ns := createNamespace(t, e.admin, "nginx", meshed)
			cm := storyConfigMap(t, ns)
			original := cm.Data["default.conf"]
			want := "[nginx-http11]"
			if e.mode == "audit" {
				want = "[nginx-http11] (audit) would change"
			}
			createWithWarning(t, c, rec, cm, want, `"my-nginx-conf"`)
			back := &corev1.ConfigMap{}
			if err := e.admin.Get(context.Background(), client.ObjectKeyFromObject(cm), back); err != nil {
				t.Fatalf("read back: %v", err)
			}
			got := back.Data["default.conf"]
			if e.mode == "audit" {
				if got != original {
					t.Errorf("audit changed default.conf:\n%s\nwant it unchanged:\n%s", got, original)
				}
				if v, ok := back.Annotations["meshguard.dev/mutated"]; ok {
					t.Errorf("audit added meshguard.dev/mutated=%q", v)
				}
				return
			}
			if got != e.fixedNginx {
				t.Errorf("stored default.conf:\n%q\nwant what check --fix writes:\n%q", got, e.fixedNginx)
			}
			if back.Annotations["meshguard.dev/mutated"] != "nginx-http11" {
				t.Errorf("annotations = %v, want meshguard.dev/mutated=nginx-http11", back.Annotations)
			}
			if len(back.Data) != 1 {
				t.Errorf("data keys = %v, want default.conf only", slices.Collect(maps.Keys(back.Data)))
			}
		},
		"the story's nginx ConfigMap in an unlabelled namespace is stored unchanged without a warning": func(t *testing.T, e *ruleEnv) {
			c, rec := e.client(t)
			ns := createNamespace(t, e.admin, "nginx-plain", nil)
			cm := storyConfigMap(t, ns)
			original := cm.Data["default.conf"]
			if err := c.Create(context.Background(), cm); err != nil {
				t.Fatalf("create: %v", err)
			}
			if got := meshguardWarnings(rec.Take()); len(got) != 0 {
				t.Errorf("meshguard warnings = %q, want none", got)
			}
			back := &corev1.ConfigMap{}
			if err := e.admin.Get(context.Background(), client.ObjectKeyFromObject(cm), back); err != nil {
				t.Fatalf("read back: %v", err)
			}
			if back.Data["default.conf"] != original || back.Annotations["meshguard.dev/mutated"] != "" {
				t.Errorf("stored %q with annotations %v, want the value unchanged and no annotation",
					back.Data["default.conf"], back.Annotations)
			}
		},
		"the story's ServiceEntry gets the metadata IP moved to addresses in every version, or is stored as written with a warning in audit": func(t *testing.T, e *ruleEnv) {
			golden := goldenSpec(t, "story-2018-v1alpha3.golden.yaml")
			for _, version := range []string{"v1alpha3", "v1beta1", "v1"} {
				t.Run(version, func(t *testing.T) {
					c, rec := e.client(t)
					ns := createNamespace(t, e.admin, "se-"+version, meshed)
					se := storyServiceEntry(t, ns, version)
					written := specJSON(t, se)
					want := "[gce-metadata-address]"
					if e.mode == "audit" {
						want = "[gce-metadata-address] (audit) would change"
					}
					createWithWarning(t, c, rec, se, want)

					back := &unstructured.Unstructured{}
					back.SetGroupVersionKind(se.GroupVersionKind())
					if err := e.admin.Get(context.Background(), client.ObjectKeyFromObject(se), back); err != nil {
						t.Fatalf("read back in %s: %v", version, err)
					}
					if back.GetAPIVersion() != "networking.istio.io/"+version {
						t.Errorf("read back as %s", back.GetAPIVersion())
					}
					hosts, _, _ := unstructured.NestedStringSlice(back.Object, "spec", "hosts")
					addresses, _, _ := unstructured.NestedStringSlice(back.Object, "spec", "addresses")
					got := specJSON(t, back)
					if e.mode == "audit" {
						if got != written {
							t.Errorf("audit stored spec %s, want it as written: %s", got, written)
						}
						if !slices.Contains(hosts, metadataIP) {
							t.Errorf("hosts = %v, want the IP still there (the CRD accepts it)", hosts)
						}
						return
					}
					if !slices.Contains(addresses, metadataIP) || slices.Contains(hosts, metadataIP) {
						t.Errorf("hosts = %v, addresses = %v; want %s in addresses only", hosts, addresses, metadataIP)
					}
					if got != golden {
						t.Errorf("stored spec %s\nwant the golden spec %s", got, golden)
					}
					if back.GetAnnotations()["meshguard.dev/mutated"] != "gce-metadata-address" {
						t.Errorf("annotations = %v, want meshguard.dev/mutated=gce-metadata-address", back.GetAnnotations())
					}
				})
			}
		},
		"a namespace holding the story's gce Ingress joins the mesh with a warning naming the Ingress": func(t *testing.T, e *ruleEnv) {
			c, rec := e.client(t)
			ctx := context.Background()
			name := createNamespace(t, e.admin, "joins", nil)
			if err := e.admin.Create(ctx, storyIngress(t, name)); err != nil {
				t.Fatalf("create Ingress: %v", err)
			}
			label := func(opts ...client.UpdateOption) error {
				ns := &corev1.Namespace{}
				if err := c.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
					return err
				}
				ns.Labels["istio-injection"] = "enabled"
				return c.Update(ctx, ns, opts...)
			}
			parts := []string{"[namespace-joins-mesh]", `"my-app"`}
			// The webhook lists the namespace's Ingresses from its informer
			// cache, which sees the new Ingress a moment after it is stored.
			rec.Take()
			harness.WaitFor(t, admissionWait, "dry-run label update warns about the Ingress", func() error {
				if err := label(client.DryRunAll); err != nil {
					return err
				}
				if len(harness.Containing(rec.Take(), parts...)) == 0 {
					return errNoWarning
				}
				return nil
			})
			if err := label(); err != nil {
				t.Fatalf("label update: %v", err)
			}
			if got := rec.Take(); len(harness.Containing(got, parts...)) == 0 {
				t.Errorf("warnings = %q, want one containing %q", got, parts)
			}
		},
	}

	maps.Copy(cases, wallCases())
	maps.Copy(cases, exemptionCases())
	for _, mode := range []string{"enforce", "audit"} {
		t.Run(mode, func(t *testing.T) {
			wh := harness.StartWebhook(t, bin, harness.WebhookOptions{
				Kubeconfig: cp.Kubeconfig,
				Mode:       mode,
				ExtraArgs:  []string{"--shutdown-delay=0s", "--exemption-authz", "--events"},
			})
			rendered, _ := harness.RegisterChart(t, cp.Client, wh, map[string]any{"mode": mode})
			t.Logf("chart entries: %s", rendered)
			waitForMode(t, cp, mode)
			e := &ruleEnv{mode: mode, cfg: cp.Config, admin: cp.Client, fixedNginx: fixed, webhook: wh}
			for _, name := range slices.Sorted(maps.Keys(cases)) {
				t.Run(name, func(t *testing.T) { cases[name](t, e) })
			}
		})
	}
}

// waitForMode probes with dry-run creates of the story's Ingress in a meshed
// namespace until the webhook in mode answers: the API server picks up new
// webhook configurations, and drops deleted ones, a moment after the write.
func waitForMode(t *testing.T, cp *harness.ControlPlane, mode string) {
	t.Helper()
	c, rec := warningClient(t, cp.Config)
	ns := createNamespace(t, cp.Client, "probe-"+mode, meshed)
	harness.WaitFor(t, admissionWait, "the webhook answers in "+mode+" mode", func() error {
		err := c.Create(context.Background(), storyIngress(t, ns), client.DryRunAll)
		got := rec.Take()
		switch {
		case mode == "enforce" && err != nil && strings.Contains(err.Error(), "[ingress-in-mesh]"):
			return nil
		case mode == "audit" && err == nil && len(harness.Containing(got, "[ingress-in-mesh] (audit) would deny:")) > 0:
			return nil
		case err != nil:
			return err
		}
		return errNoWarning
	})
}

// errNoWarning is a probe's error while the expected warning is missing.
var errNoWarning = &probeError{"the expected warning was not received"}

type probeError struct{ msg string }

func (e *probeError) Error() string { return e.msg }

// createWithWarning dry-runs the creation of obj until it is admitted with
// a warning containing every one of parts (the webhook configuration and
// the webhook's namespace cache are updated asynchronously), then creates
// it and checks the real create is admitted with that warning too. It
// returns the real create's warnings.
func createWithWarning(t *testing.T, c client.Client, rec *harness.Warnings, obj client.Object, parts ...string) []string {
	t.Helper()
	ctx := context.Background()
	rec.Take()
	harness.WaitFor(t, admissionWait, "dry-run create is admitted with a warning containing "+strings.Join(parts, " … "), func() error {
		if err := c.Create(ctx, obj.DeepCopyObject().(client.Object), client.DryRunAll); err != nil {
			return err
		}
		if len(harness.Containing(rec.Take(), parts...)) == 0 {
			return errNoWarning
		}
		return nil
	})
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("create %s/%s: %v", obj.GetNamespace(), obj.GetName(), err)
	}
	got := rec.Take()
	if len(harness.Containing(got, parts...)) == 0 {
		t.Errorf("create warnings = %q, want one containing %q", got, parts)
	}
	return got
}

// meshguardWarnings drops the API server's own warnings (such as the
// deprecation of the kubernetes.io/ingress.class annotation) from list:
// meshguard's all start with the rule name in brackets.
func meshguardWarnings(list []string) []string {
	var out []string
	for _, w := range list {
		if strings.HasPrefix(w, "[") {
			out = append(out, w)
		}
	}
	return out
}

// mustExist fails the test unless obj is stored.
func mustExist(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	back := obj.DeepCopyObject().(client.Object)
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), back); err != nil {
		t.Errorf("%s/%s not stored: %v", obj.GetNamespace(), obj.GetName(), err)
	}
}

// specJSON is the spec of u as canonical JSON (sorted keys), so that specs
// decoded from YAML and from the API server compare.
func specJSON(t *testing.T, u *unstructured.Unstructured) string {
	t.Helper()
	data, err := json.Marshal(u.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// goldenSpec is the spec of a pkg/mutate gce-metadata-address golden file:
// what the mutation makes of the matching .in.yaml.
func goldenSpec(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(harness.RepoRoot(t) + "/pkg/mutate/testdata/gce-metadata-address/" + name)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return specJSON(t, u)
}
