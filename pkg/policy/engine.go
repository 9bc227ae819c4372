package policy

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
)

// Config assembles an Engine.
type Config struct {
	// Rules are the rules the engine runs, validating first.
	Rules Rules
	Modes Modes
	// AllowExemptions honours meshguard.dev/exempt annotations; cluster admins can turn it off.
	AllowExemptions bool
	// ExemptionAuthz, when set, honours an exemption only if the requesting
	// user may exempt objects from that rule in that namespace; nil honours
	// every exemption that carries a reason.
	ExemptionAuthz ExemptionAuthorizer
	// Events, when set, is told about every finding audit mode lets
	// through on a real (not dry-run) write.
	Events  EventSink
	Metrics *Metrics
	Log     logr.Logger
	// Limits bound each response; nil means DefaultLimits. Offline callers
	// that report every finding pass &Limits{}.
	Limits *Limits
}

// EventSink hears of the findings audit mode lets through (WouldDeny,
// WouldMutate), to record them as Kubernetes Events. It must not block.
type EventSink interface {
	WouldAct(req *Request, rule string, d Decision, message string)
}

// Engine runs rules on a request and decides the response for every mode.
type Engine struct {
	c Config
	// rules hold each rule's declaration, read once, and its check.
	rules []entry
	// rendered recycles the verdicts Review renders at once, so the
	// webhook's hot path allocates no verdict per request.
	rendered sync.Pool
}

// entry is one rule as the engine runs it.
type entry struct {
	id       string
	match    Match
	check    func(context.Context, *Request) ([]Finding, error)
	mutating bool
	// duration observes meshguard_rule_duration_seconds; nil without metrics.
	duration prometheus.Observer
}

// NewEngine returns an Engine over the given rules.
func NewEngine(c Config) *Engine {
	e := &Engine{c: c}
	for _, r := range c.Rules.Validating {
		e.rules = append(e.rules, entry{id: r.ID(), match: r.Match(), check: r.Validate, duration: c.Metrics.duration(r.ID())})
	}
	for _, r := range c.Rules.Mutating {
		e.rules = append(e.rules, entry{id: r.ID(), match: r.Match(), check: r.Mutate, mutating: true, duration: c.Metrics.duration(r.ID())})
	}
	return e
}

// RuleIDs lists the IDs of the engine's rules, in order.
func (e *Engine) RuleIDs() []string { return e.c.Rules.IDs() }

// PanicError is a recovered panic inside a rule; it is answered like any
// internal failure (HTTP 5xx), so failurePolicy decides.
type PanicError struct {
	Rule  string
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("rule %s panicked: %v", p.Rule, p.Value) }

// Decide evaluates every rule that applies and returns what each decided,
// counting the decisions and logging the findings. A non-nil error means
// no decision could be reached: the caller must answer with an HTTP error
// status, never with allowed=false.
func (e *Engine) Decide(ctx context.Context, req *Request) (*Verdict, error) {
	v := &Verdict{}
	if err := e.decide(ctx, req, v); err != nil {
		return nil, err
	}
	return v, nil
}

// Review decides the request and renders the verdict as the admission
// response (UID not set); errors are Decide's and Verdict.Response's.
func (e *Engine) Review(ctx context.Context, req *Request) (*admissionv1.AdmissionResponse, error) {
	v, _ := e.rendered.Get().(*Verdict)
	if v == nil {
		v = &Verdict{}
	}
	defer e.recycle(v)
	if err := e.decide(ctx, req, v); err != nil {
		return nil, err
	}
	return v.Response(req)
}

// recycle empties a verdict for the next Review. The response holds none of
// its memory: every string and slice it carries is built by Response.
func (e *Engine) recycle(v *Verdict) {
	clear(v.Rules)
	clear(v.patch)
	patch := v.patch[:0]
	if cap(patch) > 64 {
		// A huge patch is rare: its operation list is not worth keeping.
		patch = nil
	}
	*v = Verdict{Rules: v.Rules[:0], patch: patch}
	e.rendered.Put(v)
}

func (e *Engine) decide(ctx context.Context, req *Request, v *Verdict) error {
	v.limits = e.limits()
	applied := false
	for i := range e.rules {
		r := &e.rules[i]
		if !r.match.Covers(req) {
			continue
		}
		if err := ctx.Err(); err != nil {
			// Out of time or abandoned: no partial decision, failurePolicy decides.
			return fmt.Errorf("before rule %s: %w", r.id, err)
		}
		applied = true
		mode := e.c.Modes.For(r.id)
		if mode == Off {
			continue
		}
		if err := e.run(ctx, r, mode, req, v); err != nil {
			return err
		}
	}
	if !applied && !req.IsDryRun() {
		e.c.Metrics.skip("")
	}
	return nil
}

func (e *Engine) limits() Limits {
	if e.c.Limits == nil {
		return DefaultLimits()
	}
	return *e.c.Limits
}

func (e *Engine) run(ctx context.Context, r *entry, mode Mode, req *Request, v *Verdict) error {
	id := r.id
	start := time.Now()
	findings, err := safeCheck(ctx, r, req)
	if r.duration != nil {
		r.duration.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		e.count(req, id, mode, Error)
		var p *PanicError
		if errors.As(err, &p) {
			e.c.Log.Error(err, "rule panicked", append(e.keys(req, id, mode), "stack", string(p.Stack))...)
		} else if !errors.Is(err, ErrBadObject) {
			e.c.Log.Error(err, "rule failed", e.keys(req, id, mode)...)
		}
		return fmt.Errorf("rule %s: %w", id, err)
	}
	rv := RuleVerdict{ID: id, Mode: mode, Decision: Allowed, Findings: findings}
	if len(findings) == 0 {
		e.count(req, id, mode, Allowed)
		v.Rules = append(v.Rules, rv)
		return nil
	}
	// Exemptions matter only when a rule has something to say, so clean
	// objects never pay for reading them.
	meta, err := req.Meta()
	if err != nil {
		e.count(req, id, mode, Error)
		return err
	}
	rv.Exemption = checkExemption(id, meta.Annotations, e.c.AllowExemptions)
	if rv.Exemption.Granted && e.c.ExemptionAuthz != nil {
		if rv.Exemption, err = e.authorised(ctx, req, id, rv.Exemption); err != nil {
			e.count(req, id, mode, Error)
			return fmt.Errorf("rule %s: %w", id, err)
		}
	}
	if rv.Exemption.Granted {
		rv.Decision = Exempt
		e.count(req, id, mode, Exempt)
		e.log(req, id, mode, "exempted", "reason", rv.Exemption.Reason)
		v.Rules = append(v.Rules, rv)
		return nil
	}
	if mode == Enforce {
		if rv.Findings, err = e.patchWithin(req, id, findings, v); err != nil {
			e.count(req, id, mode, Error)
			return fmt.Errorf("rule %s: %w", id, err)
		}
	}
	for _, f := range rv.Findings {
		d := decisionOf(mode, f.Severity)
		if f.Severity == Skipped {
			if !req.IsDryRun() {
				e.c.Metrics.skip(id)
			}
			if e.c.Log.V(1).Enabled() {
				e.c.Log.V(1).Info("skipped", append(e.keys(req, id, mode), "why", f.Message)...)
			}
			continue
		}
		e.log(req, id, mode, "finding", "decision", d, "message", f.Message)
		if e.c.Events != nil && (d == WouldDeny || d == WouldMutate) && !req.IsDryRun() {
			e.c.Events.WouldAct(req, id, d, f.Message)
		}
		if rank(d) > rank(rv.Decision) {
			rv.Decision = d
		}
	}
	e.count(req, id, mode, rv.Decision)
	v.Rules = append(v.Rules, rv)
	return nil
}

// patchWithin encodes the patch of a rule's changes into v. When they do
// not fit within the patch limit, the rule changes nothing (a mutation
// applies completely or not at all) and its changes become one warning
// saying so.
func (e *Engine) patchWithin(req *Request, id string, findings []Finding, v *Verdict) ([]Finding, error) {
	var ops []jsonpatch.Operation
	first := -1
	for i, f := range findings {
		if f.Severity == Change {
			ops = append(ops, f.Patch...)
			if first < 0 {
				first = i
			}
		}
	}
	if first < 0 {
		return findings, nil
	}
	fits, size, err := v.encodePatch(ops)
	if err != nil || fits {
		return findings, err
	}
	kept := make([]Finding, 0, len(findings))
	for _, f := range findings {
		if f.Severity != Change {
			kept = append(kept, f)
		}
	}
	if !req.IsDryRun() {
		e.c.Metrics.skip(id)
	}
	return append(kept, Warn(fmt.Sprintf(
		"the object was left unchanged: its changes make a JSON patch of %d bytes, over the %d-byte limit of one response; make them in your source manifest: %s",
		size, v.limits.PatchBytes, findings[first].Message))), nil
}

// log writes one structured line per finding; the key list is built only when
// the line is written, keeping the hot path free of it otherwise.
func (e *Engine) log(req *Request, rule string, mode Mode, msg string, kv ...any) {
	if e.c.Log.Enabled() {
		e.c.Log.Info(msg, append(e.keys(req, rule, mode), kv...)...)
	}
}

// count records a decision unless the request is a dry run: dry runs are
// evaluated and answered like any request but are not real decisions.
func (e *Engine) count(req *Request, rule string, mode Mode, d Decision) {
	if !req.IsDryRun() {
		e.c.Metrics.decision(rule, mode, d)
	}
}

func (e *Engine) keys(req *Request, rule string, mode Mode) []any {
	name := req.Name
	if meta, err := req.Meta(); err == nil && meta.Name != "" {
		name = meta.DisplayName()
	}
	return []any{"uid", req.UID, "rule", rule, "mode", mode, "operation", req.Operation,
		"kind", req.Kind.Kind, "namespace", req.Namespace, "name", name, "user", req.UserInfo.Username, "dryRun", req.IsDryRun()}
}

// ErrChangeFromValidator is a validating rule's bug: it returned a Change,
// which only mutating rules may. It is answered like a rule failure.
var ErrChangeFromValidator = errors.New("a validating rule returned a change; only mutating rules may")

func safeCheck(ctx context.Context, r *entry, req *Request) (f []Finding, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Rule: r.id, Value: v, Stack: debug.Stack()}
		}
	}()
	f, err = r.check(ctx, req)
	if !r.mutating && err == nil {
		for _, x := range f {
			if x.Severity == Change || len(x.Patch) > 0 {
				return nil, ErrChangeFromValidator
			}
		}
	}
	return f, err
}

// decisionOf is the decision one finding implies in a mode.
func decisionOf(mode Mode, s Severity) Decision {
	switch {
	case s == Violation && mode == Enforce:
		return Denied
	case s == Violation:
		return WouldDeny
	case s == Change && mode == Enforce:
		return Mutated
	case s == Change:
		return WouldMutate
	}
	return Allowed
}

func rank(d Decision) int {
	switch d {
	case Denied, WouldDeny:
		return 2
	case Mutated, WouldMutate:
		return 1
	}
	return 0
}
