// Command apiload measures meshguard's cost through a real kube-apiserver:
// the latency of creating Ingresses, nginx ConfigMaps and ServiceEntries
// naming the metadata server in a meshed namespace without webhooks, with
// the chart's webhook configurations pointing at a floor webhook (the least
// any webhook costs: ../floorhook) and pointing at meshguard, with
// hand-written admission policies and with the ones meshguard compiles
// (alternating in blocks, same run); the webhook process's private memory
// under that load, and the heap its namespace cache costs per 1,000
// namespaces.
//
// Everything is on loopback: kube-apiserver and etcd from envtest (binaries
// from hack/tools/build.sh), the `webhook serve` binary built from
// ../cmd/webhook with a self-signed certificate, and the webhook
// configurations rendered from the chart with `helm template`. The run is
// bounded by -creates, -clients and -namespaces.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/meshguard/meshguard/internal/harness"
)

// Config bounds one run.
type Config struct {
	Root       string // repository root
	Creates    int    // creates per kind per variant
	Blocks     int    // blocks per variant; each block runs every variant, starting with the next one
	Clients    int    // concurrent clients
	Namespaces []int  // cumulative labelled-namespace counts for the cache measurement; empty skips it
	Pprof      string // loopback address for the webhook's /debug/pprof; empty: off
	// APIServerProfiles is a folder for CPU profiles of kube-apiserver, one
	// per variant and kind, taken during the first block; empty: none.
	APIServerProfiles string
	ProfileSeconds    int // how long each profile samples, from the block's start
	// WebhookFlags are appended to `webhook serve`'s flags.
	WebhookFlags []string
}

// Variants in the order of their blocks: no webhooks, the floor webhook
// (floor.go) and meshguard, both registered with the chart's configurations,
// and no webhook but the hand-written and meshguard's compiled admission
// policies in the API server (policies.go), the latter with and without the
// chart's webhook configurations for the other kinds.
var Variants = []string{"without", "floor", "with", celVariant, compiledVariant, policiesVariant}

// mark is what variant leaves on every object of kind it answers (create).
func mark(variant, kind string) string {
	switch variant {
	case "floor", "with":
		return map[string]string{"floor": "floor", "with": "meshguard"}[variant]
	case celVariant, compiledVariant, policiesVariant:
		// Policies only mutate ServiceEntries; the load's Ingress is allowed
		// silently. No policy names ConfigMaps: in the compiled variant
		// meshguard's webhook still mutates them.
		switch kind {
		case "serviceentry":
			return map[string]string{celVariant: "cel", compiledVariant: "meshguard", policiesVariant: "meshguard"}[variant]
		case "configmap":
			return map[string]string{compiledVariant: "meshguard"}[variant]
		}
	}
	return ""
}

// Kinds that are created.
var Kinds = []string{"ingress", "configmap", "serviceentry"}

// Stats of one kind under one variant, over all its blocks.
type Stats struct {
	Creates   int // attempted
	Answered  int // got a successful answer from the API server
	Errors    int
	Marked    int // carrying exactly the variant's mark (none without webhooks)
	Latencies []time.Duration
	Wall      time.Duration
	// WebhookCalls is how much the meshguard process's
	// controller_runtime_webhook_requests_total grew during the blocks.
	WebhookCalls int
	// BlockP50 is the median latency of each block, in block order: the
	// variants of one block ran back to back, so their ratio within a
	// block is free of the drift between blocks.
	BlockP50 []time.Duration
	CPU      time.Duration // the meshguard process's user+system CPU during the blocks
	FloorCPU time.Duration // the floor webhook process's
	APICPU   time.Duration // kube-apiserver's
	SelfCPU  time.Duration // this process's: the clients
	FirstErr error
}

// Quantile returns the q-quantile (nearest rank) of the latencies.
func (s *Stats) Quantile(q float64) time.Duration { return quantile(s.Latencies, q) }

// quantile returns the q-quantile (nearest rank) of d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	l := slices.Clone(d)
	slices.Sort(l)
	i := int(q*float64(len(l))+0.5) - 1
	return l[max(0, min(i, len(l)-1))]
}

// Memory is one reading of the webhook process.
type Memory struct {
	Anonymous, Private, RSS uint64 // bytes, from smaps_rollup
	HeapInuse               uint64 // go_memstats_heap_inuse_bytes
}

// NamespacePoint is the webhook's heap with Count labelled namespaces.
type NamespacePoint struct {
	Count int
	Heap  uint64
	Mem   Memory
}

// Result of a run.
type Result struct {
	Start     time.Time
	LoadAvg   string
	Latency   map[string]map[string]*Stats // variant -> kind
	Idle      Memory                       // before the load
	PeakLoad  Memory                       // maximum of each field while creating with the webhooks
	NSBase    NamespacePoint               // before the namespaces
	NSPoints  []NamespacePoint
	IngressNS string
}

func main() {
	c := Config{}
	var ns string
	flag.StringVar(&c.Root, "root", "..", "repository root")
	flag.IntVar(&c.Creates, "creates", 2000, "creates per kind per variant (at most 20000)")
	flag.IntVar(&c.Blocks, "blocks", 2, "blocks per variant, alternating without/floor/with/cel/compiled/policies")
	flag.IntVar(&c.Clients, "clients", 6, "concurrent clients (at most 64)")
	flag.Func("webhook-flag", "extra flag for `webhook serve`, repeatable (for example -webhook-flag=--enable-http2)", func(v string) error {
		c.WebhookFlags = append(c.WebhookFlags, v)
		return nil
	})
	flag.StringVar(&c.Pprof, "pprof", "", "serve the webhook's /debug/pprof on this loopback address (for example 127.0.0.1:6060) to profile it during the run")
	flag.StringVar(&c.APIServerProfiles, "apiserver-profiles", "", "write a CPU profile of kube-apiserver during each variant's and kind's first block into this folder (VARIANT-KIND.pprof)")
	flag.Func("kinds", "only these kinds, comma-separated (default: "+strings.Join(Kinds, ",")+")", func(v string) error {
		return only(&Kinds, v)
	})
	flag.Func("variants", "only these variants, comma-separated (default: "+strings.Join(Variants, ",")+")", func(v string) error {
		return only(&Variants, v)
	})
	flag.IntVar(&c.ProfileSeconds, "apiserver-profile-seconds", 3, "how long each kube-apiserver profile samples (keep it under a block's duration)")
	flag.StringVar(&ns, "namespaces", "1000,5000", "cumulative labelled namespace counts for the cache cost (at most 20000; empty: skip)")
	flag.Parse()
	for f := range strings.SplitSeq(ns, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "apiload: -namespaces %q: %v\n", ns, err)
			os.Exit(2)
		}
		c.Namespaces = append(c.Namespaces, n)
	}
	r, err := Run(context.Background(), c)
	if r != nil {
		Print(os.Stdout, c, r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "apiload: %v\n", err)
		os.Exit(1)
	}
}

// only narrows all to the comma-separated names in list, in all's order.
func only(all *[]string, list string) error {
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(*all, name) {
			return fmt.Errorf("%q: want some of %s", name, strings.Join(*all, ", "))
		}
		want[name] = true
	}
	*all = slices.DeleteFunc(slices.Clone(*all), func(n string) bool { return !want[n] })
	return nil
}

func (c *Config) check() error {
	switch {
	case c.Creates < 1 || c.Creates > 20000:
		return fmt.Errorf("-creates %d: want 1..20000", c.Creates)
	case c.Blocks < 1 || c.Blocks > c.Creates:
		return fmt.Errorf("-blocks %d: want 1..creates", c.Blocks)
	case c.Clients < 1 || c.Clients > 64:
		return fmt.Errorf("-clients %d: want 1..64", c.Clients)
	case c.APIServerProfiles != "" && (c.ProfileSeconds < 1 || c.ProfileSeconds > 600):
		return fmt.Errorf("-apiserver-profile-seconds %d: want 1..600", c.ProfileSeconds)
	}
	if c.Pprof != "" {
		host, _, err := net.SplitHostPort(c.Pprof)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("-pprof %q: want a loopback host:port such as 127.0.0.1:6060", c.Pprof)
		}
	}
	prev := 0
	for _, n := range c.Namespaces {
		if n <= prev || n > 20000 {
			return fmt.Errorf("-namespaces: want increasing counts up to 20000, got %v", c.Namespaces)
		}
		prev = n
	}
	return nil
}

// Run starts the control plane and the webhook, runs the blocks and the
// namespace measurement, and stops everything it started.
func Run(ctx context.Context, c Config) (*Result, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	r := &Result{Start: time.Now().UTC(), Latency: map[string]map[string]*Stats{}}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAvg = strings.Join(strings.Fields(string(b))[:3], ", ")
	}
	repo, err := filepath.Abs(c.Root)
	if err != nil {
		return nil, err
	}
	tools, err := harness.FindTools(ctx, repo, nil)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "meshguard-apiload-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "webhook")
	if err := harness.BuildWebhook(ctx, repo, bin); err != nil {
		return nil, err
	}
	cp, err := harness.StartControlPlane(ctx, repo, tools.KubebuilderAssets, tmp)
	if err != nil {
		return nil, err
	}
	defer func() { _ = cp.Stop() }()
	extra := slices.Clone(c.WebhookFlags)
	if c.Pprof != "" {
		extra = append(extra, "--pprof-bind-address", c.Pprof)
	}
	hook, err := harness.StartWebhook(ctx, bin, harness.WebhookOptions{
		Dir:             tmp,
		Kubeconfig:      cp.Kubeconfig,
		Mode:            "enforce",
		ExtraArgs:       append([]string{"--shutdown-delay", "0s"}, extra...),
		OwnProcessGroup: true,
	})
	if err != nil {
		return nil, err
	}
	w := &webhook{hook}
	defer w.Stop()
	rendered, err := harness.RenderChart(ctx, tools.Helm, repo, map[string]any{"mode": "enforce"})
	if err != nil {
		return nil, err
	}
	vwc, mwc := rendered.Validating, rendered.Mutating
	if vwc == nil || mwc == nil {
		return nil, errors.New("the chart rendered no webhook configurations")
	}
	if err := rendered.PointAt(hook); err != nil {
		return nil, err
	}
	floor, err := startFloorWebhook(ctx, repo, tmp)
	if err != nil {
		return nil, fmt.Errorf("floor webhook: %w", err)
	}
	defer floor.stop()
	fvwc, fmwc, err := floor.configs(vwc, mwc)
	if err != nil {
		return nil, err
	}
	// With the rules compiled, the chart keeps the webhook for the rest
	// (engine: cel on a cluster serving both policy APIs): its entries are
	// registered in the compiled variant, under their own names.
	celRendered, err := harness.RenderChart(ctx, tools.Helm, repo, map[string]any{"mode": "enforce", "engine": "cel"},
		"--api-versions", "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy", "--api-versions", "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy")
	if err != nil {
		return nil, err
	}
	if celRendered.Validating == nil || celRendered.Mutating == nil {
		return nil, errors.New("the chart rendered no webhook configurations with engine: cel")
	}
	if err := celRendered.PointAt(hook); err != nil {
		return nil, err
	}
	cvwc, cmwc := celRendered.Validating, celRendered.Mutating
	cvwc.Name, cmwc.Name = cvwc.Name+"-"+compiledVariant, cmwc.Name+"-"+compiledVariant
	configs := map[string]webhookConfigs{"floor": {fvwc, fmwc}, "with": {vwc, mwc}, compiledVariant: {cvwc, cmwc}}
	compiled, err := compiledPolicies()
	if err != nil {
		return nil, err
	}
	handWritten, err := handWrittenPolicies()
	if err != nil {
		return nil, err
	}
	sets := map[string]*policySet{compiledVariant: compiled, policiesVariant: compiled, celVariant: handWritten}

	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = 100000, 100000
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	const ns = "bench-mesh"
	r.IngressNS = ns
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{"istio-injection": "enabled"},
	}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	l := &loader{cs: cs, dyn: dyn, ns: ns, clients: c.Clients}
	time.Sleep(time.Second) // the webhook's namespace cache sees bench-mesh
	r.Idle, err = w.memory()
	if err != nil {
		return nil, err
	}

	for _, v := range Variants {
		r.Latency[v] = map[string]*Stats{}
		for _, k := range Kinds {
			r.Latency[v][k] = &Stats{}
		}
	}
	apiPid := childNamed("kube-apiserver")
	if apiPid == 0 {
		return nil, errors.New("kube-apiserver's process not found among this process's children")
	}
	per := c.Creates / c.Blocks
	for b := range c.Blocks {
		n := per
		if b == c.Blocks-1 {
			n = c.Creates - per*(c.Blocks-1)
		}
		// Each block starts with the next variant, so none always runs
		// right after the same one or at the same place in a block.
		order := append(slices.Clone(Variants[b%len(Variants):]), Variants[:b%len(Variants)]...)
		for _, v := range order {
			if err := l.setPolicies(ctx, v, sets); err != nil {
				return r, fmt.Errorf("%s: %w", v, err)
			}
			if err := l.setWebhooks(ctx, v, configs); err != nil {
				return r, fmt.Errorf("%s: %w", v, err)
			}
			var sampler *memSampler
			if v == "with" {
				sampler = w.sample(100*time.Millisecond, 5*time.Second)
			}
			for _, k := range Kinds {
				s := r.Latency[v][k]
				cpu0, floor0, api0, self0 := w.cpu(), procCPU(floor.pid()), procCPU(apiPid), procCPU(os.Getpid())
				calls0, err := w.webhookRequests()
				if err != nil {
					return r, err
				}
				var profiled chan error
				if b == 0 && c.APIServerProfiles != "" {
					profiled = l.profileAPIServer(ctx, filepath.Join(c.APIServerProfiles, v+"-"+k+".pprof"), c.ProfileSeconds)
				}
				before := len(s.Latencies)
				l.block(ctx, k, mark(v, k), n, s)
				s.BlockP50 = append(s.BlockP50, quantile(s.Latencies[before:], 0.5))
				if profiled != nil {
					if err := <-profiled; err != nil {
						return r, fmt.Errorf("profile of kube-apiserver: %w", err)
					}
				}
				calls, err := w.webhookRequests()
				if err != nil {
					return r, err
				}
				s.WebhookCalls += int(calls - calls0)
				s.CPU += w.cpu() - cpu0
				s.FloorCPU += procCPU(floor.pid()) - floor0
				s.APICPU += procCPU(apiPid) - api0
				s.SelfCPU += procCPU(os.Getpid()) - self0
			}
			if sampler != nil {
				r.PeakLoad = maxMemory(r.PeakLoad, sampler.stop())
			}
			if err := l.clean(ctx); err != nil {
				return r, err
			}
		}
	}
	var errs []error
	for _, v := range Variants {
		for _, k := range Kinds {
			s := r.Latency[v][k]
			if s.Errors > 0 || s.Answered != s.Creates {
				errs = append(errs, fmt.Errorf("%s/%s: %d of %d creates answered, %d errors (first: %v)", v, k, s.Answered, s.Creates, s.Errors, s.FirstErr))
			}
			if (v == policiesVariant || v == compiledVariant && k != "configmap") && s.WebhookCalls != 0 {
				errs = append(errs, fmt.Errorf("%s/%s: meshguard's webhook answered %d reviews, want none: the policies took these kinds over", v, k, s.WebhookCalls))
			}
			if s.Marked != s.Creates {
				errs = append(errs, fmt.Errorf("%s/%s: only %d of %d creates carry exactly the mark %q", v, k, s.Marked, s.Creates, mark(v, k)))
			}
		}
	}
	if len(errs) > 0 {
		return r, errors.Join(errs...)
	}

	if len(c.Namespaces) > 0 {
		if r.NSBase, err = w.settledHeap(0); err != nil {
			return r, err
		}
		made := 0
		for _, n := range c.Namespaces {
			if err := l.namespaces(ctx, made, n); err != nil {
				return r, err
			}
			made = n
			p, err := w.settledHeap(n)
			if err != nil {
				return r, err
			}
			r.NSPoints = append(r.NSPoints, p)
		}
	}
	return r, nil
}

type loader struct {
	cs      kubernetes.Interface
	dyn     dynamic.Interface
	ns      string
	clients int
	seq     atomic.Int64
}

const nginxConf = `server {
    listen 80;
    location / { proxy_pass http://web; }
}
`

// mutatedAnnotation is what the mutating webhook adds to a patched object.
const mutatedAnnotation = "meshguard.dev/mutated"

func (l *loader) ingress(name string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: l.ns, Annotations: map[string]string{"kubernetes.io/ingress.class": "istio"}},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80},
		}}},
	}
}

// serviceEntries is where the API serves Istio's ServiceEntries.
var serviceEntries = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"}

// metadataIP is the address gce-metadata-address declares.
const metadataIP = "169.254.169.254"

// serviceEntry names only the metadata server and declares no address:
// meshguard adds one.
func (l *loader) serviceEntry(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
		"metadata": map[string]any{"name": name, "namespace": l.ns},
		"spec": map[string]any{
			"hosts": []any{"metadata.google.internal"}, "location": "MESH_EXTERNAL", "resolution": "DNS",
			"ports": []any{map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"}},
		},
	}}
}

func (l *loader) configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: l.ns},
		Data:       map[string]string{"default.conf": nginxConf},
	}
}

// create makes one object of kind and returns the mark of the webhook or
// policy that answered it, "meshguard", "floor", "cel" or "": on a ConfigMap
// the mutated annotation (the floor webhook's value is "floor"), on a
// ServiceEntry the metadata address with that annotation (meshguard's value
// names the rule, the hand-written policy's is "cel"), on an Ingress a
// warning that mentions the mesh (the API server's own deprecation warning
// for kubernetes.io/ingress.class does not; the floor webhook's starts
// "floor: ").
func (l *loader) create(ctx context.Context, kind string, opts metav1.CreateOptions) (got string, err error) {
	name := fmt.Sprintf("b-%d", l.seq.Add(1))
	switch kind {
	case "ingress":
		// The typed client's own request, kept as a Result for its warnings.
		res := l.cs.NetworkingV1().RESTClient().Post().Namespace(l.ns).Resource("ingresses").
			VersionedParams(&opts, scheme.ParameterCodec).Body(l.ingress(name)).Do(ctx)
		var out networkingv1.Ingress
		if err := res.Into(&out); err != nil {
			return "", err
		}
		for _, w := range res.Warnings() {
			switch {
			case strings.HasPrefix(w.Text, "floor: "):
				return "floor", nil
			case strings.Contains(w.Text, "mesh"):
				return "meshguard", nil
			}
		}
		return "", nil
	case "serviceentry":
		se, err := l.dyn.Resource(serviceEntries).Namespace(l.ns).Create(ctx, l.serviceEntry(name), opts)
		if err != nil {
			return "", err
		}
		addrs, _, _ := unstructured.NestedStringSlice(se.Object, "spec", "addresses")
		if !slices.Contains(addrs, metadataIP) {
			return "", nil
		}
		switch v := se.GetAnnotations()[mutatedAnnotation]; v {
		case "floor", "cel":
			return v, nil
		case "gce-metadata-address":
			return "meshguard", nil
		}
		return "", nil
	default:
		cm, err := l.cs.CoreV1().ConfigMaps(l.ns).Create(ctx, l.configMap(name), opts)
		if err != nil {
			return "", err
		}
		switch v, ok := cm.Annotations[mutatedAnnotation]; {
		case !ok:
			return "", nil
		case v == "floor":
			return "floor", nil
		}
		return "meshguard", nil
	}
}

// block creates n objects of kind with l.clients concurrent clients.
func (l *loader) block(ctx context.Context, kind, mark string, n int, s *Stats) {
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range l.clients {
		wg.Go(func() {
			var lat []time.Duration
			var answered, errs, marked int
			var first error
			for next.Add(1) <= int64(n) {
				t := time.Now()
				m, err := l.create(ctx, kind, metav1.CreateOptions{})
				d := time.Since(t)
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				answered++
				lat = append(lat, d)
				if m == mark {
					marked++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			s.Latencies = append(s.Latencies, lat...)
			s.Creates += answered + errs
			s.Answered += answered
			s.Errors += errs
			s.Marked += marked
			if s.FirstErr == nil {
				s.FirstErr = first
			}
		})
	}
	wg.Wait()
	s.Wall += time.Since(start)
}

// profileAPIServer takes a CPU profile of kube-apiserver (its
// /debug/pprof/profile) for seconds, starting now, into path.
func (l *loader) profileAPIServer(ctx context.Context, path string, seconds int) chan error {
	done := make(chan error, 1)
	go func() {
		b, err := l.cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(seconds)).DoRaw(ctx)
		if err == nil {
			err = os.WriteFile(path, b, 0o644)
		}
		done <- err
	}()
	return done
}

// clean deletes the created objects so every block starts from the same
// store.
func (l *loader) clean(ctx context.Context) error {
	if err := l.cs.NetworkingV1().Ingresses(l.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	if err := l.dyn.Resource(serviceEntries).Namespace(l.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	return l.cs.CoreV1().ConfigMaps(l.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{FieldSelector: "metadata.name!=kube-root-ca.crt"})
}

// webhookConfigs are the two configurations of one variant.
type webhookConfigs struct {
	v *admissionregistrationv1.ValidatingWebhookConfiguration
	m *admissionregistrationv1.MutatingWebhookConfiguration
}

// setWebhooks registers the configurations of variant, removes every other
// variant's, and waits until dry-run creates carry the variant's mark.
func (l *loader) setWebhooks(ctx context.Context, variant string, all map[string]webhookConfigs) error {
	vc := l.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	mc := l.cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	for name, c := range all {
		if name == variant {
			continue
		}
		if err := vc.Delete(ctx, c.v.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err := mc.Delete(ctx, c.m.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if c, ok := all[variant]; ok {
		if _, err := vc.Create(ctx, c.v.DeepCopy(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if _, err := mc.Create(ctx, c.m.DeepCopy(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var wrong []string
		for _, k := range Kinds {
			if got, err := l.create(ctx, k, dry); err != nil || got != mark(variant, k) {
				wrong = append(wrong, fmt.Sprintf("%s marked %q (want %q), %v", k, got, mark(variant, k), err))
			}
		}
		if len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhooks and policies of %q not in effect after 30 s: %s", variant, strings.Join(wrong, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The API server's configuration watch is per instance; one envtest
	// instance, so the dry runs above prove the state. A short pause lets
	// the webhook's connections settle before timing.
	time.Sleep(500 * time.Millisecond)
	return nil
}

// namespaces creates labelled namespaces from index to to-1 with l.clients
// concurrent clients.
func (l *loader) namespaces(ctx context.Context, from, to int) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next.Store(int64(from))
	for range l.clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(to) {
					return
				}
				_, err := l.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
					Name:   fmt.Sprintf("mesh-%05d", i),
					Labels: map[string]string{"istio-injection": "enabled", "team": fmt.Sprintf("team-%d", i%50)},
				}}, metav1.CreateOptions{})
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// blockRatios summarises the ratios of two variants' medians block by block:
// their median and range, or nothing with fewer than three blocks.
func blockRatios(a, b []time.Duration) string {
	var r []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			r = append(r, float64(a[i])/float64(b[i]))
		}
	}
	if len(r) < 3 {
		return ""
	}
	slices.Sort(r)
	med := r[len(r)/2]
	if len(r)%2 == 0 {
		med = (r[len(r)/2-1] + r[len(r)/2]) / 2
	}
	return fmt.Sprintf("; p50 block by block: median %.2f×, %.2f–%.2f× over %d blocks", med, r[0], r[len(r)-1], len(r))
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// Print writes the result as Markdown tables.
func Print(out io.Writer, c Config, r *Result) {
	fmt.Fprintf(out, "start %s, load average %s, %d clients, %d creates per kind per variant in %d blocks (%s, ...)\n\n",
		r.Start.Format(time.RFC3339), r.LoadAvg, c.Clients, c.Creates, c.Blocks, strings.Join(Variants, ", "))
	fmt.Fprintln(out, "CPU per create: of the meshguard process, the floor webhook's, kube-apiserver's, and this process's (the clients)")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| kind | variant | creates | answered | errors | with the variant's mark | meshguard webhook calls | creates/s | p50 | p99 | CPU meshguard | CPU floor webhook | CPU kube-apiserver | CPU clients |")
	fmt.Fprintln(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range Kinds {
		for _, v := range Variants {
			s := r.Latency[v][k]
			if s == nil {
				continue
			}
			rate := 0.0
			if s.Wall > 0 {
				rate = float64(s.Answered) / s.Wall.Seconds()
			}
			per := func(d time.Duration) float64 {
				if s.Creates == 0 {
					return 0
				}
				return float64(d) / float64(time.Microsecond) / float64(s.Creates)
			}
			fmt.Fprintf(out, "| %s | %s | %d | %d | %d | %d | %d | %.0f | %s | %s | %.0f µs | %.0f µs | %.0f µs | %.0f µs |\n", k, v, s.Creates, s.Answered, s.Errors, s.Marked, s.WebhookCalls, rate,
				ms(s.Quantile(0.5)), ms(s.Quantile(0.99)), per(s.CPU), per(s.FloorCPU), per(s.APICPU), per(s.SelfCPU))
		}
	}
	fmt.Fprintln(out)
	ratio := func(k, a, b string) {
		x, y := r.Latency[a][k], r.Latency[b][k]
		if x == nil || y == nil || y.Quantile(0.5) == 0 || y.Quantile(0.99) == 0 {
			return
		}
		fmt.Fprintf(out, "%s %s/%s: p50 %.2f×, p99 %.2f×%s\n", k, a, b,
			float64(x.Quantile(0.5))/float64(y.Quantile(0.5)), float64(x.Quantile(0.99))/float64(y.Quantile(0.99)), blockRatios(x.BlockP50, y.BlockP50))
	}
	for _, k := range Kinds {
		ratio(k, "with", "without")
		ratio(k, "floor", "without")
		ratio(k, "with", "floor")
		ratio(k, celVariant, "without")
		ratio(k, compiledVariant, "without")
		ratio(k, compiledVariant, celVariant)
		ratio(k, policiesVariant, "without")
		ratio(k, policiesVariant, celVariant)
	}
	fmt.Fprintf(out, "\nwebhook process idle: anonymous %s, private %s, RSS %s, heap in use %s\n",
		mib(r.Idle.Anonymous), mib(r.Idle.Private), mib(r.Idle.RSS), mib(r.Idle.HeapInuse))
	if r.PeakLoad == (Memory{}) {
		fmt.Fprintln(out, "webhook process peak under load: not measured (no block of the with variant)")
	} else {
		fmt.Fprintf(out, "webhook process peak under load (smaps every 100 ms, heap every 5 s): anonymous %s, private %s, RSS %s, heap in use %s\n",
			mib(r.PeakLoad.Anonymous), mib(r.PeakLoad.Private), mib(r.PeakLoad.RSS), mib(r.PeakLoad.HeapInuse))
	}
	if len(r.NSPoints) == 0 {
		return
	}
	fmt.Fprintln(out, "\n| labelled namespaces | heap in use | Δ heap | Δ per 1,000 | anonymous | private |")
	fmt.Fprintln(out, "|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(out, "| 0 | %s | | | %s | %s |\n", mib(r.NSBase.Heap), mib(r.NSBase.Mem.Anonymous), mib(r.NSBase.Mem.Private))
	for _, p := range r.NSPoints {
		d := float64(p.Heap) - float64(r.NSBase.Heap)
		fmt.Fprintf(out, "| %d | %s | %.2f MiB | %.0f KiB | %s | %s |\n", p.Count, mib(p.Heap), d/(1<<20), d/1024/float64(p.Count)*1000, mib(p.Mem.Anonymous), mib(p.Mem.Private))
	}
}
