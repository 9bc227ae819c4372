// Package events records meshguard's findings as Kubernetes Events on the
// objects they concern, where `kubectl describe` and event exporters show
// them: what audit mode lets through at admission (MeshguardWouldDeny,
// MeshguardWouldChange) and what the background audit finds on existing
// objects (MeshguardViolation).
//
// Recording never waits: an event goes into a bounded queue, or is dropped
// and counted. A worker drops repeats of the same finding on the same object
// within DedupWindow and holds the rate to Rate per second (Burst at once),
// then hands events to client-go's events.k8s.io/v1 recorder, which folds
// what still repeats into event series.
package events

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Event reasons.
const (
	ReasonWouldDeny   = "MeshguardWouldDeny"
	ReasonWouldChange = "MeshguardWouldChange"
	ReasonViolation   = "MeshguardViolation"
)

// Defaults of Options.
const (
	QueueSize   = 256
	DedupWindow = 10 * time.Minute
	Rate        = 5
	Burst       = 50
	// maxNote is the events.k8s.io/v1 limit on an Event's note, in bytes.
	maxNote = 1024
	// maxSeen bounds the dedup memory (keys of events sent lately).
	maxSeen = 8192
)

// Sink is client-go's events.k8s.io/v1 recorder, as controller-runtime's
// manager.GetEventRecorder returns it.
type Sink interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// Recorder queues events for a Sink. The zero value is not usable: use New.
type Recorder struct {
	queue   chan event
	sink    Sink
	limiter *rate.Limiter
	window  time.Duration
	seen    map[string]time.Time
	now     func() time.Time
	total   *prometheus.CounterVec
}

type event struct {
	ref                  corev1.ObjectReference
	reason, action, note string
}

// New returns a Recorder writing to sink, with its counter
// meshguard_events_total{result} registered on reg. Start runs it.
func New(sink Sink, reg prometheus.Registerer) (*Recorder, error) {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshguard_events_total",
		Help: "Kubernetes Events about findings, by result: recorded, duplicate (the same finding on the same object within the dedup window), dropped_queue_full, dropped_rate_limited.",
	}, []string{"result"})
	if err := reg.Register(total); err != nil {
		return nil, fmt.Errorf("registering meshguard_events_total: %w", err)
	}
	for _, r := range []string{"recorded", "duplicate", "dropped_queue_full", "dropped_rate_limited"} {
		total.WithLabelValues(r)
	}
	return &Recorder{
		queue: make(chan event, QueueSize), sink: sink, limiter: rate.NewLimiter(Rate, Burst),
		window: DedupWindow, seen: map[string]time.Time{}, now: time.Now, total: total,
	}, nil
}

// Record queues a Warning event about the object ref, or drops it when the
// queue is full. It never blocks.
func (r *Recorder) Record(ref corev1.ObjectReference, reason, action, note string) {
	select {
	case r.queue <- event{ref: ref, reason: reason, action: action, note: truncate(note)}:
	default:
		r.total.WithLabelValues("dropped_queue_full").Inc()
	}
}

// Start sends queued events until ctx ends. It implements manager.Runnable;
// every replica records what its own admissions find.
func (r *Recorder) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-r.queue:
			r.send(e)
		}
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: admission
// events come from every replica.
func (r *Recorder) NeedLeaderElection() bool { return false }

func (r *Recorder) send(e event) {
	now := r.now()
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s", e.ref.Kind, e.ref.Namespace, e.ref.Name, e.ref.UID, e.reason, e.note)
	if last, ok := r.seen[key]; ok && now.Sub(last) < r.window {
		r.total.WithLabelValues("duplicate").Inc()
		return
	}
	if !r.limiter.AllowN(now, 1) {
		r.total.WithLabelValues("dropped_rate_limited").Inc()
		return
	}
	r.remember(key, now)
	ref := e.ref
	r.sink.Eventf(&ref, nil, corev1.EventTypeWarning, e.reason, e.action, "%s", e.note)
	r.total.WithLabelValues("recorded").Inc()
}

// remember notes that key was sent at now. Once maxSeen keys are held it
// forgets the expired ones and, if that frees less than half, enough others
// to hold half: the sweep runs at most once per maxSeen/2 events sent.
func (r *Recorder) remember(key string, now time.Time) {
	if len(r.seen) >= maxSeen {
		for k, t := range r.seen {
			if now.Sub(t) >= r.window || len(r.seen) > maxSeen/2 {
				delete(r.seen, k)
			}
		}
	}
	r.seen[key] = now
}

// truncate cuts note to the events.k8s.io/v1 limit at a rune boundary.
func truncate(note string) string {
	if len(note) <= maxNote {
		return note
	}
	cut := maxNote - len("…")
	for cut > 0 && !utf8.RuneStart(note[cut]) {
		cut--
	}
	return note[:cut] + "…"
}
