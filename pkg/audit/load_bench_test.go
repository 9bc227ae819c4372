package audit

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshguard/meshguard/internal/testenv"
	"github.com/meshguard/meshguard/pkg/reports"
)

// BenchmarkAuditLoad audits 5,000 ConfigMaps and 1,000 Ingresses across 500
// namespaces (half of them in the mesh: their 5 nginx ConfigMaps need the
// insert and their 2 gce Ingresses would be denied) on a real API server
// with both report APIs installed. It reports the time from the audit's
// start until every report is written, the report writes that took (want:
// one create per report, and nothing else), and the peak Go heap of the
// process the audit runs in.
//
//	go test ./pkg/audit -run '^$' -bench BenchmarkAuditLoad -benchtime 1x
func BenchmarkAuditLoad(b *testing.B) {
	const namespaces, configMaps, ingresses = 500, 10, 2
	cfg, c := testenv.Start(b, "the audit under load")
	ctx := context.Background()
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{reportCRDs}, ErrorIfPathMissing: true}); err != nil {
		b.Fatal(err)
	}
	var g errgroup.Group
	g.SetLimit(8)
	for n := range namespaces {
		g.Go(func() error {
			ns := fmt.Sprintf("load-%03d", n)
			var labels map[string]string
			if n%2 == 0 {
				labels = map[string]string{"istio-injection": "enabled"}
			}
			objs := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}}
			for i := range configMaps {
				if i%2 == 0 {
					objs = append(objs, nginxConfigMap(ns, fmt.Sprintf("nginx-%d", i)))
				} else {
					objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("plain-%d", i), Namespace: ns},
						Data: map[string]string{"app.properties": "a=b\n"}})
				}
			}
			for i := range ingresses {
				objs = append(objs, ingress(ns, fmt.Sprintf("web-%d", i), nil))
			}
			for _, o := range objs {
				if err := c.Create(ctx, o); err != nil {
					return fmt.Errorf("create %s/%s: %w", ns, o.GetName(), err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	wantReports := namespaces / 2 * len(reports.APIs)

	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	_, reg := startAuditWith(b, cfg, false, nil, func(o *Options) {
		o.Reports = ReportOptions{Enabled: true, Interval: time.Second}
	})
	for writesTotal(b, reg) < float64(wantReports) {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%v of %d reports written after 5 minutes", writesTotal(b, reg), wantReports)
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	// Three more write intervals: nothing changes, so nothing more is written.
	time.Sleep(3 * time.Second)
	b.StopTimer()
	close(stop)
	<-sampled

	writes := writesTotal(b, reg)
	if writes != float64(wantReports) {
		b.Errorf("%v report writes for %d reports, want one create each", writes, wantReports)
	}
	b.ReportMetric(elapsed.Seconds(), "s-to-all-reports")
	b.ReportMetric(writes, "report-writes")
	b.ReportMetric(float64(wantReports), "reports")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}
