package policy

import "github.com/prometheus/client_golang/prometheus"

// Decision is the value of the decision label of meshguard_decisions_total.
type Decision string

// The decisions a rule can reach on one request.
const (
	Allowed     Decision = "allowed"
	Denied      Decision = "denied"
	WouldDeny   Decision = "would_deny"
	Mutated     Decision = "mutated"
	WouldMutate Decision = "would_mutate"
	Exempt      Decision = "exempt"
	Error       Decision = "error"
)

// Metrics are meshguard's own counters; controller-runtime adds the
// controller_runtime_webhook_* series for every path.
type Metrics struct {
	decisions *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	durations *prometheus.HistogramVec
}

// NewMetrics creates the counters and registers them on reg (pass
// controller-runtime's metrics.Registry in the server, a fresh registry in tests).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshguard_decisions_total",
			Help: "Admission decisions per rule and mode; dry-run requests are not counted.",
		}, []string{"rule", "mode", "decision"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshguard_skipped_total",
			Help: "Requests or values meshguard left alone on purpose: rule=\"\" for kinds no rule handles, else the rule that skipped a value it cannot analyse safely.",
		}, []string{"rule"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshguard_rule_duration_seconds",
			Help: "Time one rule took to decide one request (dry runs included), from 50µs to the review budget.",
			// 50µs, 200µs, 800µs, 3.2ms, 12.8ms, 51ms, 205ms, 819ms, 3.3s.
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 9),
		}, []string{"rule"}),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.skipped, m.durations} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) decision(rule string, mode Mode, d Decision) {
	if m != nil {
		m.decisions.WithLabelValues(rule, string(mode), string(d)).Inc()
	}
}

func (m *Metrics) skip(rule string) {
	if m != nil {
		m.skipped.WithLabelValues(rule).Inc()
	}
}

// duration returns the observer of a rule's durations, resolved once per
// rule so the hot path does no label look-up; nil without metrics.
func (m *Metrics) duration(rule string) prometheus.Observer {
	if m == nil {
		return nil
	}
	return m.durations.WithLabelValues(rule)
}
