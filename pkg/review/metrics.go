package review

import "github.com/prometheus/client_golang/prometheus"

// Reasons a review is turned away without a decision, as counted in
// meshguard_rejected_total.
const (
	// ReasonOverload: no room under the cap on bytes held by reviews in flight.
	ReasonOverload = "overload"
	// ReasonTimeout: the review's time budget ran out, reading the body or in the rules.
	ReasonTimeout = "timeout"
	// ReasonClientGone: the client hung up before the review was decided.
	ReasonClientGone = "client_gone"
	// ReasonTooLarge: the body exceeds MaxBodyBytes.
	ReasonTooLarge = "too_large"
)

// Metrics count reviews answered with an HTTP error status because of load
// or time rather than because of what they carry.
type Metrics struct {
	rejected *prometheus.CounterVec
}

// NewMetrics registers meshguard_rejected_total on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshguard_rejected_total",
		Help: "Reviews answered with an HTTP error status, so failurePolicy decides, because of load or time: overload (the cap on bytes in flight is full), timeout (the time budget ran out), client_gone (the caller hung up), too_large (the body exceeds the limit).",
	}, []string{"reason"})}
	// Every reason exists from the start, so a rate over it is never absent.
	for _, r := range []string{ReasonOverload, ReasonTimeout, ReasonClientGone, ReasonTooLarge} {
		m.rejected.WithLabelValues(r)
	}
	if err := reg.Register(m.rejected); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) reject(reason string) {
	if m != nil {
		m.rejected.WithLabelValues(reason).Inc()
	}
}
