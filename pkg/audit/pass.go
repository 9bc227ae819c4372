package audit

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// passMetrics are the audit's health series, set by the leader only: when
// the last full pass finished, and how many objects of each kind it read.
type passMetrics struct {
	lastPass prometheus.Gauge
	objects  *prometheus.GaugeVec
}

func newPassMetrics(reg prometheus.Registerer) (*passMetrics, error) {
	m := &passMetrics{
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshguard_audit_last_pass_timestamp_seconds",
			Help: "When the background audit last finished evaluating every watched object (Unix seconds; the leader only).",
		}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshguard_audit_objects",
			Help: "Objects the last full audit pass evaluated, per kind (the leader only).",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.lastPass, m.objects} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// pass follows one full pass: the objects it lists until each has been
// evaluated once. Evaluations between begin and expect count too, so an
// object an event had queued before the listing does not keep the pass open.
type pass struct {
	mu       sync.Mutex
	finished map[Ref]struct{} // evaluated since begin; nil outside begin..expect
	pending  map[Ref]struct{} // still to evaluate; nil when no pass is open
	complete func()
}

// begin opens a pass, replacing any unfinished one.
func (p *pass) begin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished, p.pending = map[Ref]struct{}{}, nil
}

// expect names the pass's objects; it completes at once when every one of
// them has been evaluated already.
func (p *pass) expect(refs []Ref) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = make(map[Ref]struct{}, len(refs))
	for _, r := range refs {
		if _, done := p.finished[r]; !done {
			p.pending[r] = struct{}{}
		}
	}
	p.finished = nil
	p.check()
}

// finish records that ref was evaluated (or given up on until the next pass).
func (p *pass) finish(ref Ref) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished != nil {
		p.finished[ref] = struct{}{}
		return
	}
	if p.pending != nil {
		delete(p.pending, ref)
		p.check()
	}
}

func (p *pass) check() {
	if p.pending != nil && len(p.pending) == 0 {
		p.pending = nil
		if p.complete != nil {
			p.complete()
		}
	}
}

// completeAt returns the pass's completion callback: it sets the gauge.
func (m *passMetrics) completeAt(now func() time.Time) func() {
	return func() { m.lastPass.Set(float64(now().UnixNano()) / 1e9) }
}
