package audit

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshguard/meshguard/pkg/admit"
	"github.com/meshguard/meshguard/pkg/policy"
)

// Ref names one audited object.
type Ref struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Finding is one entry of GET /report: what enforce mode would deny or
// change on an object that already exists, or what admission would warn
// about (a value the rules cannot analyse, a better way to expose it).
type Finding struct {
	Rule string `json:"rule"`
	Ref
	// Severity is "deny" (a Violation), "change" (a mutation still to
	// make) or "warn" (advice: allowed in every mode, not in the gauge).
	Severity string `json:"severity"`
	Message  string `json:"message"`
	// Since is when this replica first saw the finding; it survives resyncs
	// and events that leave the finding as it was.
	Since time.Time `json:"since"`
}

// Report is the body of GET /report.
type Report struct {
	// Auditing is false on replicas that are not the leader (and so report
	// nothing): ask the leader, or read the gauge, which only it sets.
	Auditing bool      `json:"auditing"`
	Findings []Finding `json:"findings"`
}

// store holds the current findings per object and keeps the gauge, the
// log and the report in step with them.
type store struct {
	mu       sync.Mutex
	objects  map[Ref][]Finding
	counts   map[[2]string]int // rule, namespace → objects with findings
	gauge    *prometheus.GaugeVec
	log      logr.Logger
	now      func() time.Time
	auditing atomic.Bool
	// dirty are the namespaces whose findings changed since the policy
	// reports were last written ("" for cluster-scoped objects).
	dirty map[string]struct{}
}

func newStore(gauge *prometheus.GaugeVec, log logr.Logger, now func() time.Time) *store {
	return &store{objects: map[Ref][]Finding{}, counts: map[[2]string]int{}, gauge: gauge, log: log, now: now, dirty: map[string]struct{}{}}
}

// set replaces an object's findings (none: the object is clean, gone or out
// of scope), logging each finding the first time it appears and each one
// that disappears, so resyncs that change nothing stay silent. It returns
// the findings that appeared.
func (s *store) set(ref Ref, found []admit.Finding) (appeared []Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.objects[ref]
	var next []Finding
	for _, f := range found {
		sev, ok := reported(f.Severity)
		if !ok {
			continue
		}
		n := Finding{Rule: f.Rule, Ref: ref, Severity: sev, Message: f.Message}
		if slices.ContainsFunc(next, n.same) {
			continue
		}
		if i := slices.IndexFunc(old, n.same); i >= 0 {
			n.Since = old[i].Since
		} else {
			n.Since = s.now()
			appeared = append(appeared, n)
			s.log.Info("new finding", "rule", n.Rule, "severity", n.Severity, "kind", ref.Kind, "namespace", ref.Namespace, "name", ref.Name, "message", n.Message)
		}
		next = append(next, n)
	}
	for _, f := range old {
		if !slices.ContainsFunc(next, f.same) {
			s.log.Info("finding cleared", "rule", f.Rule, "kind", ref.Kind, "namespace", ref.Namespace, "name", ref.Name)
		}
	}
	if !slices.EqualFunc(old, next, Finding.same) {
		s.dirty[ref.Namespace] = struct{}{}
	}
	s.count(old, -1)
	s.count(next, +1)
	if len(next) == 0 {
		delete(s.objects, ref)
	} else {
		s.objects[ref] = next
	}
	return appeared
}

// count adds by to the gauge of every rule the findings name, once per
// rule: the gauge counts objects, not messages.
func (s *store) count(fs []Finding, by int) {
	var seen []string
	for _, f := range fs {
		if f.Severity == severityWarn || slices.Contains(seen, f.Rule) {
			continue
		}
		seen = append(seen, f.Rule)
		k := [2]string{f.Rule, f.Namespace}
		s.counts[k] += by
		if s.counts[k] <= 0 {
			delete(s.counts, k)
			// Deleted rather than set to 0, so fixed namespaces do not
			// leave series behind forever.
			s.gauge.DeleteLabelValues(f.Rule, f.Namespace)
			continue
		}
		s.gauge.WithLabelValues(f.Rule, f.Namespace).Set(float64(s.counts[k]))
	}
}

func (f Finding) same(o Finding) bool {
	return f.Rule == o.Rule && f.Severity == o.Severity && f.Message == o.Message
}

// reported names the severities the report shows: what enforce mode would
// act on, and advice, which admission shows as a warning in every mode.
func reported(s policy.Severity) (string, bool) {
	switch s {
	case policy.Violation:
		return "deny", true
	case policy.Change:
		return "change", true
	case policy.Advice:
		return severityWarn, true
	}
	return "", false
}

// severityWarn is advice: reported, but never counted as a violation, so
// the gauge still says when a rule can be enforced.
const severityWarn = "warn"

// refs lists the objects that currently have findings.
func (s *store) refs() []Ref {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ref, 0, len(s.objects))
	for r := range s.objects {
		out = append(out, r)
	}
	return out
}

// report returns every finding, ordered by namespace, kind, name and rule.
func (s *store) report() Report {
	s.mu.Lock()
	out := []Finding{}
	for _, fs := range s.objects {
		out = append(out, fs...)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
	return Report{Auditing: s.auditing.Load(), Findings: out}
}

// ServeHTTP answers GET /report with the findings as JSON.
func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.report())
}
