package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshguard/meshguard/internal/testenv"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
)

// settle bounds how long the audit may take to notice a change.
const settle = 20 * time.Second

func startAPIServer(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	return testenv.Start(t, "the audit")
}

// startAudit runs a manager with only the audit and returns the address of
// its metrics server.
func startAudit(t *testing.T, cfg *rest.Config, leaderElection bool) (string, *prometheus.Registry) {
	t.Helper()
	return startAuditWith(t, cfg, leaderElection, nil, nil)
}

// startAuditWith is startAudit with the manager's cache wrapped by wrap and
// the audit's options changed by opts (each may be nil).
func startAuditWith(t testing.TB, cfg *rest.Config, leaderElection bool, wrap func(cache.Cache) cache.Cache, opts func(*Options)) (string, *prometheus.Registry) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	log := zap.New(zap.WriteTo(io.Discard))
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Logger: log, Metrics: metricsserver.Options{BindAddress: addr},
		LeaderElection: leaderElection, LeaderElectionID: "meshguard-audit", LeaderElectionNamespace: "default",
		LeaderElectionReleaseOnCancel: true,
		NewCache: func(cfg *rest.Config, o cache.Options) (cache.Cache, error) {
			c, err := cache.New(cfg, o)
			if err != nil || wrap == nil {
				return c, err
			}
			return wrap(c), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := Options{
		Interval: time.Hour, Registry: reg, Log: log, AllowExemptions: true,
		Modes: policy.Modes{Default: policy.Audit}, Excluded: []string{"kube-system", "infra"},
		Rules: func(c cluster.Reader) policy.Rules {
			return policy.Rules{
				Validating: []policy.Validator{validate.IngressInMesh{Namespaces: c, Classes: c}},
				Mutating:   []policy.Mutator{mutate.NginxHTTP11{Namespaces: c}, mutate.GCEMetadataAddress{}},
			}
		},
	}
	if opts != nil {
		opts(&o)
	}
	if err := Setup(mgr, o); err != nil {
		t.Fatalf("setup: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return addr, reg
}

func report(addr string) (Report, error) {
	resp, err := http.Get("http://" + addr + ReportPath)
	if err != nil {
		return Report{}, err
	}
	defer resp.Body.Close()
	var r Report
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// waitReport polls /report until want accepts the set of "rule kind ns/name"
// lines; advice has " (warn)" appended.
func waitReport(t *testing.T, addr, what string, want func(map[string]bool) bool) Report {
	t.Helper()
	deadline := time.Now().Add(settle)
	var last Report
	for time.Now().Before(deadline) {
		r, err := report(addr)
		if err == nil {
			last = r
			got := map[string]bool{}
			for _, f := range r.Findings {
				got[key(f)] = true
			}
			if r.Auditing && want(got) {
				return r
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last report: %+v", what, settle, last)
	return last
}

func TestAuditAgainstAPIServer(t *testing.T) {
	cfg, c := startAPIServer(t)
	ctx := context.Background()
	mustCreate := func(objs ...client.Object) {
		t.Helper()
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil {
				t.Fatalf("create %T %s: %v", o, o.GetName(), err)
			}
		}
	}
	meshed := map[string]string{"istio-injection": "enabled"}
	mustCreate(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: meshed}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "later"}},
		// Meshed, but excluded from admission: never audited either.
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "infra", Labels: meshed}},
		ingress("infra", "gce", nil),
		ingress("app", "gce", nil),
		ingress("app", "exempt", map[string]string{policy.ExemptAnnotation: "ingress-in-mesh", policy.ExemptReasonAnnotation: "migrating next week"}),
		ingress("later", "gce", nil),
		nginxConfigMap("app", "nginx"),
		nginxConfigMap("later", "nginx"),
		// nginx configuration the rule cannot analyse: reported as advice.
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "openresty", Namespace: "app"},
			Data: map[string]string{"lua.conf": "location / {\n    content_by_lua_block { ngx.say('hi') }\n    proxy_pass http://backend;\n}\n"}},
	)
	if kinds := auditedKinds(t, mustMapper(t, cfg)); !slices.Equal(kinds, []string{"networking.k8s.io/v1, Kind=Ingress", "/v1, Kind=ConfigMap"}) {
		t.Fatalf("without Istio's CRDs the audited kinds are %v, want Ingress and ConfigMap", kinds)
	}

	t.Run("without istio, leader-elected", func(t *testing.T) {
		addr, _ := startAudit(t, cfg, true)
		waitReport(t, addr, "existing objects reported", func(got map[string]bool) bool {
			return len(got) == 3 && got["ingress-in-mesh Ingress app/gce"] && got["nginx-http11 ConfigMap app/nginx"] &&
				got["nginx-http11 ConfigMap app/openresty (warn)"]
		})
	})

	installServiceEntryCRD(t, c)
	se := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
		"metadata": map[string]any{"name": "metadata", "namespace": "later"},
		"spec":     map[string]any{"hosts": []any{"metadata.google.internal"}, "resolution": "DNS"},
	}}
	mustCreate(se)
	addr, reg := startAudit(t, cfg, false)
	r := waitReport(t, addr, "existing objects reported", func(got map[string]bool) bool {
		return len(got) == 4 && got["ingress-in-mesh Ingress app/gce"] && got["nginx-http11 ConfigMap app/nginx"] &&
			got["gce-metadata-address ServiceEntry later/metadata"] && got["nginx-http11 ConfigMap app/openresty (warn)"]
	})
	for _, f := range r.Findings {
		if f.Name == "openresty" && (!strings.Contains(f.Message, `key "lua.conf": content_by_lua_block in line 2 holds Lua code`) || !strings.Contains(f.Message, "HTTP/1.0")) {
			t.Errorf("the advice on the Lua ConfigMap does not name the key, the reason and the consequence: %s", f.Message)
		}
	}
	// The start-up pass is complete once those are reported.
	if v := gaugeValue(t, reg, "meshguard_audit_last_pass_timestamp_seconds", ""); v <= 0 {
		t.Errorf("meshguard_audit_last_pass_timestamp_seconds = %v after the start-up pass", v)
	}
	if v := gaugeValue(t, reg, "meshguard_audit_objects", "Ingress"); v != 4 {
		t.Errorf("meshguard_audit_objects{kind=Ingress} = %v, want the 4 Ingresses", v)
	}
	since := sinceOf(r, "nginx-http11", "app", "nginx")
	if v := violations(t, reg); v["ingress-in-mesh/app"] != 1 || v["nginx-http11/app"] != 1 {
		t.Errorf("gauge = %v, want one object per rule in namespace app", v)
	}

	// Fixing the Ingress (an Istio class) clears its finding.
	var ing networkingv1.Ingress
	if err := c.Get(ctx, client.ObjectKey{Namespace: "app", Name: "gce"}, &ing); err != nil {
		t.Fatal(err)
	}
	ing.Annotations["kubernetes.io/ingress.class"] = "istio"
	if err := c.Update(ctx, &ing); err != nil {
		t.Fatal(err)
	}
	waitReport(t, addr, "fixed Ingress cleared, with the advice admission gives it", func(got map[string]bool) bool {
		return !got["ingress-in-mesh Ingress app/gce"] && got["ingress-in-mesh Ingress app/gce (warn)"]
	})
	// Labelling a namespace into the mesh brings in what it holds.
	var ns corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: "later"}, &ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels = meshed
	if err := c.Update(ctx, &ns); err != nil {
		t.Fatal(err)
	}
	r = waitReport(t, addr, "namespace joining the mesh reported", func(got map[string]bool) bool {
		return got["ingress-in-mesh Ingress later/gce"] && got["nginx-http11 ConfigMap later/nginx"]
	})
	if got := sinceOf(r, "nginx-http11", "app", "nginx"); !got.Equal(since) {
		t.Errorf("since moved on a finding that did not change: %v, was %v", got, since)
	}
	// Deleting an object clears it too, and the gauge with it.
	if err := c.Delete(ctx, nginxConfigMap("app", "nginx")); err != nil {
		t.Fatal(err)
	}
	waitReport(t, addr, "deleted ConfigMap cleared", func(got map[string]bool) bool {
		return !got["nginx-http11 ConfigMap app/nginx"]
	})
	if v := violations(t, reg); len(v) != 3 || v["ingress-in-mesh/later"] != 1 || v["nginx-http11/later"] != 1 {
		t.Errorf("gauge = %v, want only namespace later's series", v)
	}
}

func key(f Finding) string {
	k := fmt.Sprintf("%s %s %s/%s", f.Rule, f.Kind, f.Namespace, f.Name)
	if f.Severity == severityWarn {
		k += " (warn)"
	}
	return k
}

func sinceOf(r Report, rule, ns, name string) time.Time {
	for _, f := range r.Findings {
		if f.Rule == rule && f.Namespace == ns && f.Name == name {
			return f.Since
		}
	}
	return time.Time{}
}

// informerLog is a cache that records the kinds whose informers are asked for.
type informerLog struct {
	cache.Cache
	mu    sync.Mutex
	kinds []string
}

func (l *informerLog) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	l.mu.Lock()
	l.kinds = append(l.kinds, fmt.Sprintf("%T %s", obj, obj.GetObjectKind().GroupVersionKind().Kind))
	l.mu.Unlock()
	return l.Cache.GetInformer(ctx, obj, opts...)
}

func (l *informerLog) asked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.kinds)
}

// TestOnlyTheLeaderWatches starts a replica whose Lease is held by another:
// it serves an empty report and starts none of the audit's informers, so
// replicas do not each hold a cache of the cluster's ConfigMaps.
func TestOnlyTheLeaderWatches(t *testing.T) {
	cfg, c := startAPIServer(t)
	holder, forever := "another-replica", int32(3600)
	now := metav1.NewMicroTime(time.Now())
	if err := c.Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "meshguard-audit", Namespace: "default"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &forever, AcquireTime: &now, RenewTime: &now},
	}); err != nil {
		t.Fatal(err)
	}
	var log *informerLog
	addr, _ := startAuditWith(t, cfg, true, func(c cache.Cache) cache.Cache {
		log = &informerLog{Cache: c}
		return log
	}, nil)
	deadline := time.Now().Add(settle)
	for {
		r, err := report(addr)
		if err == nil && !r.Auditing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report from the replica: %v %+v", err, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Give a wrongly started auditor time to ask for its informers.
	time.Sleep(time.Second)
	if asked := log.asked(); len(asked) > 0 {
		t.Errorf("a replica that does not hold the Lease asked for informers %v", asked)
	}
}

// gaugeValue reads a gauge from reg: the one whose only label has the value
// label, or the unlabelled one.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 0 && label == "" || len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
