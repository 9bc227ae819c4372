// Package policy turns what rules find into a Verdict, which the webhook
// renders as an admission response and offline callers read as data. It is
// the one place that knows about modes (enforce, audit, off), exemptions,
// dry runs and metrics; rules only report findings.
package policy

import (
	"context"

	"gomodules.xyz/jsonpatch/v2"
)

// Rule is one guardrail. Rules are pure with respect to modes: they never ask
// whether they are enforced.
type Rule interface {
	// ID is the stable kebab-case name used in messages, flags, metrics and annotations.
	ID() string
	// Applies reports, cheaply, whether the rule looks at this request at all
	// (kind and operation); requests no rule applies to are counted as skipped.
	Applies(req *Request) bool
	// Check evaluates the request. An error means the rule could not decide;
	// the webhook then answers with an HTTP error so failurePolicy decides.
	Check(ctx context.Context, req *Request) ([]Finding, error)
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
