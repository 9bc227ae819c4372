package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/internal/harness"
)

// errMismatch reports that some outcome was not the expected one; the
// printout already says which.
var errMismatch = errors.New("outcomes differ from the expected ones")

// storyDir holds the manifests, relative to the repository root.
const storyDir = "examples/story"

// storyOrder is the order the story is told in (examples/README.md); other
// files follow alphabetically.
var storyOrder = []string{"ingress.yaml", "nginx-configmap.yaml", "serviceentry.yaml", "gateway.yaml", "virtualservice.yaml"}

// Status words.
const (
	allowed     = "ALLOWED"
	denied      = "DENIED"
	mutated     = "MUTATED"
	wouldDeny   = "WOULD DENY"
	wouldChange = "WOULD CHANGE"
	failed      = "ERROR"
)

// options are run's inputs.
type options struct {
	Repo    string    // repository root
	Webhook string    // webhook binary; built when empty
	Once    bool      // exit after the printout
	Out     io.Writer // the printout
}

// outcome is what happened to one object.
type outcome struct {
	phase, namespace string
	meshed           bool
	file             string
	kind, name       string
	status           string
	message          string   // denial or error
	warnings         []string // from the API server's response
	diffs            []string // unified diffs, sent vs stored
	annotations      []string // annotations meshguard added
	sent, stored     *unstructured.Unstructured
	problem          string // empty when as expected
}

// demo holds the running pieces.
type demo struct {
	o       options
	tmp     string
	tools   harness.Tools
	bin     string
	cp      *harness.ControlPlane
	dyn     dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	warn    *harness.Warnings
	hook    *harness.Webhook
	objects []*unstructured.Unstructured // the story, in order, namespace first
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.o.Out, format, args...) }

// run is the demo: see the package comment. It always stops what it started
// and removes its temporary directory before it returns.
func run(ctx context.Context, o options) (err error) {
	start := time.Now()
	repo, err := filepath.Abs(o.Repo)
	if err != nil {
		return err
	}
	o.Repo = repo
	d := &demo{o: o, warn: &harness.Warnings{}}
	d.tmp, err = os.MkdirTemp("", "meshguard-demo-")
	if err != nil {
		return err
	}
	defer func() {
		d.hook.Stop()
		if rmErr := os.RemoveAll(d.tmp); rmErr != nil && err == nil {
			err = rmErr
		}
	}()

	d.printf("meshguard demo: the story's manifests (%s) against a local control plane\n\n", storyDir)
	d.printf("== setup\n")
	if os.Getenv("KUBEBUILDER_ASSETS") == "" || os.Getenv("HELM") == "" {
		d.printf("  %-14s hack/tools/build.sh: seconds when cached; the first run builds kube-apiserver, etcd and helm\n", "tools")
		d.printf("  %-14s from source, about 10-15 minutes (progress: %s)\n", "", filepath.Join(d.tmp, "tools.log"))
	}
	if d.tools, err = findTools(ctx, repo, filepath.Join(d.tmp, "tools.log")); err != nil {
		return err
	}
	d.bin = o.Webhook
	if d.bin == "" {
		d.bin = filepath.Join(d.tmp, "webhook")
		if err := harness.BuildWebhook(ctx, repo, d.bin); err != nil {
			return err
		}
	}
	if d.objects, err = readStory(filepath.Join(repo, storyDir)); err != nil {
		return err
	}

	t := time.Now()
	if d.cp, err = harness.StartControlPlane(ctx, repo, d.tools.KubebuilderAssets, d.tmp); err != nil {
		return err
	}
	defer func() {
		// The webhook first: the API server waits for its watches to end.
		d.hook.Stop()
		if stopErr := d.cp.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	if err := d.cp.InstallGatewayAPI(ctx, repo); err != nil {
		return err
	}
	d.printf("  %-14s %s, kube-apiserver + etcd with the Istio and Gateway API CRDs (%s)\n", "control plane", d.cp.Config.Host, since(t))
	if err := d.clients(); err != nil {
		return err
	}

	var all []*outcome
	for _, phase := range []struct{ mode, meshed, plain, says string }{
		{"enforce", "my-app", "my-app-plain", "denies and patches"},
		{"audit", "my-app-audit", "my-app-audit-plain", "only warns: nothing is denied or changed"},
	} {
		if err := ctx.Err(); err != nil {
			return nil
		}
		d.printf("\n== %s mode: meshguard %s\n", phase.mode, phase.says)
		if err := d.switchMode(ctx, phase.mode); err != nil {
			return err
		}
		for _, ns := range []struct {
			name   string
			meshed bool
		}{{phase.meshed, true}, {phase.plain, false}} {
			out, err := d.applyStory(ctx, phase.mode, ns.name, ns.meshed)
			if err != nil {
				return err
			}
			all = append(all, out...)
		}
		if phase.mode == "audit" {
			d.auditSummary(all)
		}
	}

	bad := 0
	for _, oc := range all {
		if oc.problem != "" {
			bad++
		}
	}
	d.printf("\n")
	if bad == 0 {
		d.printf("demo: %d outcomes as expected (%s)\n", len(all), since(start))
	} else {
		d.printf("demo: %d of %d outcomes NOT as expected:\n", bad, len(all))
		for _, oc := range all {
			if oc.problem != "" {
				d.printf("  %s mode, %s, %s %s: %s\n", oc.phase, oc.namespace, oc.kind, oc.name, oc.problem)
			}
		}
		d.printf("webhook log: %s\n%s\n", d.hook.LogPath, harness.Tail(d.hook.LogPath, 10))
	}
	if o.Once || ctx.Err() != nil {
		if bad > 0 {
			return errMismatch
		}
		return nil
	}
	if err := d.interactive(ctx); err != nil {
		return err
	}
	if bad > 0 {
		return errMismatch
	}
	return nil
}

// findTools finds kube-apiserver, etcd and helm (internal/harness.FindTools);
// hack/tools/build.sh's progress goes to logPath.
func findTools(ctx context.Context, repo, logPath string) (harness.Tools, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return harness.Tools{}, err
	}
	defer logFile.Close()
	return harness.FindTools(ctx, repo, logFile)
}

// clients builds the clients; every request's warnings land in d.warn.
func (d *demo) clients() error {
	cfg := d.warn.Config(d.cp.Config)
	var err error
	if d.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	d.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return nil
}

// switchMode (re)starts the webhook in mode and registers the chart's
// webhook configurations rendered for that mode.
func (d *demo) switchMode(ctx context.Context, mode string) error {
	d.hook.Stop()
	d.hook = nil
	t := time.Now()
	h, err := harness.StartWebhook(ctx, d.bin, harness.WebhookOptions{
		Dir:        d.tmp,
		Kubeconfig: d.cp.Kubeconfig,
		Mode:       mode,
		ExtraArgs:  []string{"--shutdown-delay", "0s"},
		// Ctrl-C reaches only the demo, which stops the webhook in order.
		OwnProcessGroup: true,
	})
	if err != nil {
		return err
	}
	d.hook = h
	d.printf("  %-14s %s --mode %s, ready in %s; log: %s\n", "webhook", h.URL(""), mode, since(t), h.LogPath)
	rendered, err := harness.RenderChart(ctx, d.tools.Helm, d.o.Repo, map[string]any{"mode": mode})
	if err != nil {
		return err
	}
	v, m := rendered.Validating, rendered.Mutating
	if v == nil || m == nil {
		return fmt.Errorf("the chart rendered no webhook configurations for mode %s", mode)
	}
	if err := rendered.PointAt(h); err != nil {
		return err
	}
	if err := rendered.Apply(ctx, d.cp.Client); err != nil {
		return fmt.Errorf("register webhook configurations: %w", err)
	}
	d.warn.Take()
	policy := "?"
	if len(v.Webhooks) > 0 && v.Webhooks[0].FailurePolicy != nil {
		policy = string(*v.Webhooks[0].FailurePolicy)
	}
	d.printf("  %-14s %d validating + %d mutating entries from %s (helm template --set mode=%s), failurePolicy %s\n",
		"registered", len(v.Webhooks), len(m.Webhooks), harness.ChartDir, mode, policy)
	return nil
}

// readStory reads every manifest of the story; the Namespace comes first.
func readStory(dir string) ([]*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "namespace.yaml" {
			files = append(files, e.Name())
		}
	}
	rank := func(f string) int {
		if i := slices.Index(storyOrder, f); i >= 0 {
			return i
		}
		return len(storyOrder)
	}
	slices.SortStableFunc(files, func(a, b string) int {
		if r := rank(a) - rank(b); r != 0 {
			return r
		}
		return strings.Compare(a, b)
	})
	files = append([]string{"namespace.yaml"}, files...)
	var objs []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(m) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			u.SetAnnotations(setKey(u.GetAnnotations(), "meshguard-demo/file", f))
			objs = append(objs, u)
		}
	}
	if len(objs) == 0 || objs[0].GetKind() != "Namespace" {
		return nil, fmt.Errorf("%s: namespace.yaml holds no Namespace", dir)
	}
	return objs, nil
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// applyStory creates the namespace (labelled as in namespace.yaml when
// meshed, without labels otherwise) and every other object in it, and prints
// what happened to each.
func (d *demo) applyStory(ctx context.Context, mode, ns string, meshed bool) ([]*outcome, error) {
	nsObj := d.objects[0].DeepCopy()
	nsObj.SetName(ns)
	nsObj.SetAnnotations(nil)
	if !meshed {
		nsObj.SetLabels(nil)
	}
	if _, err := d.dyn.Resource(namespacesGVR).Create(ctx, nsObj, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	d.warn.Take()
	label := "no mesh label"
	if meshed {
		var l []string
		for k, v := range nsObj.GetLabels() {
			l = append(l, k+"="+v)
		}
		slices.Sort(l)
		label = strings.Join(l, ", ")
	}
	d.printf("\n  namespace %s (%s)\n", ns, label)
	if meshed {
		if err := d.waitEffective(ctx, mode, ns); err != nil {
			return nil, err
		}
	}
	var out []*outcome
	for _, obj := range d.objects[1:] {
		oc, err := d.apply(ctx, mode, ns, meshed, obj)
		if err != nil {
			return nil, err
		}
		oc.problem = expect(oc)
		d.print(oc)
		out = append(out, oc)
		if oc.kind == "Ingress" && oc.status == denied {
			converted, err := d.convertDenied(ctx, ns, oc)
			if err != nil {
				return nil, err
			}
			out = append(out, converted...)
		}
	}
	return out, nil
}

// waitEffective waits until the API server calls the webhook registered for
// mode: configuration changes reach the admission chain asynchronously. It
// probes with a dry-run create of the story's Ingress, which stores nothing.
func (d *demo) waitEffective(ctx context.Context, mode, ns string) error {
	var ing *unstructured.Unstructured
	for _, o := range d.objects {
		if o.GetKind() == "Ingress" {
			ing = o.DeepCopy()
		}
	}
	if ing == nil {
		time.Sleep(2 * time.Second)
		return nil
	}
	ing.SetNamespace(ns)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := d.dyn.Resource(ingressesGVR).Namespace(ns).Create(ctx, ing, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		warns := d.warn.Take()
		switch {
		case mode == "enforce" && err != nil && strings.Contains(err.Error(), "denied the request"):
			return nil
		case mode == "audit" && err == nil && slices.ContainsFunc(warns, func(w string) bool { return strings.Contains(w, "(audit)") }):
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the webhook registered for %s mode did not take effect: last probe: %v, warnings %q", mode, err, warns)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// apply creates one object in ns and records what happened to it.
func (d *demo) apply(ctx context.Context, mode, ns string, meshed bool, obj *unstructured.Unstructured) (*outcome, error) {
	sent := obj.DeepCopy()
	sent.SetNamespace(ns)
	ann := sent.GetAnnotations()
	file := ann["meshguard-demo/file"]
	delete(ann, "meshguard-demo/file")
	if len(ann) == 0 {
		ann = nil
	}
	sent.SetAnnotations(ann)
	oc := &outcome{phase: mode, namespace: ns, meshed: meshed, file: file, kind: sent.GetKind(), name: sent.GetName(), sent: sent}

	gvk := sent.GroupVersionKind()
	mapping, err := d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	d.warn.Take()
	stored, err := d.dyn.Resource(mapping.Resource).Namespace(ns).Create(ctx, sent, metav1.CreateOptions{FieldManager: "meshguard-demo"})
	oc.warnings = d.warn.Take()
	switch {
	case err != nil && apierrors.IsForbidden(err) && strings.Contains(err.Error(), "denied the request"):
		oc.status, oc.message = denied, err.Error()
		return oc, nil
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		oc.status, oc.message = failed, err.Error()
		return oc, nil
	}
	oc.stored = stored
	oc.diffs = diffs(sent, stored)
	for k, v := range stored.GetAnnotations() {
		if _, ok := sent.GetAnnotations()[k]; !ok && strings.HasPrefix(k, "meshguard.dev/") {
			oc.annotations = append(oc.annotations, k+": "+v)
		}
	}
	slices.Sort(oc.annotations)
	has := func(s string) bool {
		return slices.ContainsFunc(oc.warnings, func(w string) bool { return strings.Contains(w, s) })
	}
	switch {
	case len(oc.diffs) > 0 || len(oc.annotations) > 0:
		oc.status = mutated
	case has("would deny:"):
		oc.status = wouldDeny
	case has("would change"):
		oc.status = wouldChange
	default:
		oc.status = allowed
	}
	return oc, nil
}

// diffs compares what was sent with what was stored on the fields a rule
// may change: each value of a ConfigMap's data, and spec.
func diffs(sent, stored *unstructured.Unstructured) []string {
	var out []string
	sd, _, _ := unstructured.NestedStringMap(sent.Object, "data")
	td, _, _ := unstructured.NestedStringMap(stored.Object, "data")
	var keys []string
	for k := range sd {
		keys = append(keys, k)
	}
	for k := range td {
		if _, ok := sd[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if sd[k] != td[k] {
			out = append(out, unified("data."+k, sd[k], td[k]))
		}
	}
	ss, sok := sent.Object["spec"]
	ts, tok := stored.Object["spec"]
	if sok || tok {
		// Compared as YAML: decoded manifests hold float64 where stored
		// objects hold int64.
		a, _ := yaml.Marshal(ss)
		b, _ := yaml.Marshal(ts)
		if !bytes.Equal(a, b) {
			out = append(out, unified("spec", string(a), string(b)))
		}
	}
	return out
}

func unified(field, a, b string) string {
	s, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(a),
		B:        difflib.SplitLines(b),
		FromFile: "sent    " + field,
		ToFile:   "stored  " + field,
		Context:  2,
	})
	return s
}

// auditSummary shows that audit mode changed nothing.
func (d *demo) auditSummary(all []*outcome) {
	var n, bad, warned int
	for _, oc := range all {
		if oc.phase != "audit" {
			continue
		}
		n++
		if oc.status == denied || oc.status == mutated || oc.status == failed {
			bad++
		}
		if len(oc.warnings) > 0 {
			warned++
		}
	}
	d.printf("\n  audit mode: %d objects applied, %d denied or changed, %d with warnings telling what enforce mode would do\n", n, bad, warned)
}

// interactive keeps everything running for the reader's own manifests
// until ctx ends, in enforce mode.
func (d *demo) interactive(ctx context.Context) error {
	cfg := d.cp.Config
	d.printf("\n== try your own manifests\n")
	if err := d.switchMode(ctx, "enforce"); err != nil {
		return err
	}
	files := map[string][]byte{"ca.crt": cfg.CAData, "client.crt": cfg.CertData, "client.key": cfg.KeyData}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(d.tmp, name), data, 0o600); err != nil {
			return err
		}
	}
	p := func(name string) string { return filepath.Join(d.tmp, name) }
	d.printf("  The control plane and meshguard keep running until Ctrl-C. Namespace my-app is in the mesh,\n")
	d.printf("  my-app-plain is not.\n\n")
	d.printf("  %-11s %s\n", "KUBECONFIG", d.cp.Kubeconfig)
	d.printf("  %-11s KUBECONFIG=%s kubectl apply -n my-app -f your.yaml\n", "kubectl", d.cp.Kubeconfig)
	d.printf("  %-11s curl --cacert %s --cert %s --key %s \\\n", "curl", p("ca.crt"), p("client.crt"), p("client.key"))
	d.printf("  %-11s   -H 'Content-Type: application/yaml' --data-binary @your-configmap.yaml \\\n", "")
	d.printf("  %-11s   %s/api/v1/namespaces/my-app/configmaps\n", "", strings.TrimSuffix(cfg.Host, "/"))
	d.printf("  %-11s cfg, _ := clientcmd.BuildConfigFromFlags(\"\", %q) // k8s.io/client-go/tools/clientcmd\n", "Go", d.cp.Kubeconfig)
	d.printf("  %-11s bin/webhook check -f your.yaml --mesh-namespace my-app   # same rules, no cluster\n", "offline")
	d.printf("  %-11s %s\n", "webhook log", d.hook.LogPath)
	<-ctx.Done()
	d.printf("\nstopping: webhook, control plane, %s\n", d.tmp)
	return nil
}

func since(t time.Time) string {
	return time.Since(t).Round(10 * time.Millisecond).String()
}
