// Package policy turns what rules find into a Verdict, which the webhook
// renders as an admission response and offline callers read as data. It is
// the one place that knows about modes (enforce, audit, off), exemptions,
// dry runs and metrics; rules only report findings.
package policy

import (
	"context"

	"gomodules.xyz/jsonpatch/v2"
)

// Rule is what every guardrail declares: its name and the requests it
// reviews. Rules are pure with respect to modes: they never ask whether they
// are enforced.
type Rule interface {
	// ID is the stable kebab-case name used in messages, flags, metrics and annotations.
	ID() string
	// Match declares the requests the rule reviews; the engine sends it no
	// other, and the audit and the chart's tests read the same declaration.
	Match() Match
}

// Validator is a validating rule: it denies or warns, and never changes the
// object (the engine treats a Change from a Validator as a failure).
type Validator interface {
	Rule
	// Validate evaluates the request. An error means the rule could not
	// decide; the webhook then answers with an HTTP error so failurePolicy decides.
	Validate(ctx context.Context, req *Request) ([]Finding, error)
}

// Mutator is a mutating rule: its Change findings carry the patch that
// makes the object right; it may warn as well, but never deny.
type Mutator interface {
	Rule
	// Mutate evaluates the request; errors are as for Validate.
	Mutate(ctx context.Context, req *Request) ([]Finding, error)
}

// Rules is a rule list, validating and mutating kept apart: the webhook
// serves them on different paths, and the type keeps either kind off the
// other's path.
type Rules struct {
	Validating []Validator
	Mutating   []Mutator
}

// All lists every rule, validating first.
func (rs Rules) All() []Rule {
	all := make([]Rule, 0, len(rs.Validating)+len(rs.Mutating))
	for _, r := range rs.Validating {
		all = append(all, r)
	}
	for _, r := range rs.Mutating {
		all = append(all, r)
	}
	return all
}

// IDs lists every rule's ID, validating first.
func (rs Rules) IDs() []string {
	all := rs.All()
	ids := make([]string, len(all))
	for i, r := range all {
		ids[i] = r.ID()
	}
	return ids
}

// Severity says what a finding asks for.
type Severity int

const (
	// Violation denies the request in enforce mode and warns in audit mode.
	Violation Severity = iota
	// Advice is a warning in every mode; the request is allowed.
	Advice
	// Change is a mutation: patched in enforce mode, shown as the would-be change in audit mode.
	Change
	// Skipped means the rule left the object alone on purpose (for example a value
	// it cannot analyse safely); it is logged at debug level and counted, never shown.
	Skipped
)

// Finding is one thing a rule has to say about a request.
type Finding struct {
	Severity Severity
	// Message is lower-case with no trailing period and says what is wrong, why,
	// and what to do. For a Change it describes the change itself.
	Message string
	// Patch holds the JSON patch operations of a Change, relative to the original object.
	Patch []jsonpatch.Operation
}

// Deny is shorthand for a Violation finding.
func Deny(msg string) Finding { return Finding{Severity: Violation, Message: msg} }

// Warn is shorthand for an Advice finding.
func Warn(msg string) Finding { return Finding{Severity: Advice, Message: msg} }
