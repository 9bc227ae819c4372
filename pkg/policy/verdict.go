package policy

import "gomodules.xyz/jsonpatch/v2"

// Verdict is what the engine decided on one request, rule by rule, as data.
// The webhook renders it into an AdmissionResponse (Response); check and
// the audit read it directly, so none learns a rule, a decision or an
// exemption from a message.
type Verdict struct {
	// Rules holds one entry per rule evaluated, in the engine's order;
	// rules that do not apply to the request, or are off, have none.
	Rules []RuleVerdict

	limits Limits
	// patch holds the enforced changes' operations, each encoded once while
	// deciding: whether a rule's changes fit within the patch limit is part
	// of its decision, so their size is known before any rendering.
	patch    [][]byte
	patchLen int
}

// RuleVerdict is what one rule found on a request and what the engine
// made of it.
type RuleVerdict struct {
	ID   string
	Mode Mode
	// Decision is the rule's overall decision, as counted in
	// meshguard_decisions_total.
	Decision Decision
	// Findings are what the rule said, as the engine passes them on: when
	// an enforced rule's changes do not fit in one response, they are
	// replaced by one Advice saying so. When Exemption.Granted, none is
	// acted on or shown.
	Findings []Finding
	// Exemption is read only when the rule has findings.
	Exemption Exemption
}

// Exemption is the outcome of an object's meshguard.dev/exempt request for
// one rule.
type Exemption struct {
	Granted bool
	// Reason is the meshguard.dev/exempt-reason of a granted exemption.
	Reason string
	// Note is added to the rule's denials when the object asks for an
	// exemption that is not granted, so the user learns why it did not work.
	Note string
}

// Message is a finding's message as users see it: a denial carries the
// note of an exemption that was asked for and not granted.
func (r *RuleVerdict) Message(f Finding) string {
	if f.Severity == Violation && r.Exemption.Note != "" {
		return f.Message + " " + r.Exemption.Note
	}
	return f.Message
}

// changes reports whether the rule's changes are applied: an enforced,
// unexempted rule with a Change finding.
func (r *RuleVerdict) changes() bool {
	if r.Mode != Enforce || r.Exemption.Granted {
		return false
	}
	for _, f := range r.Findings {
		if f.Severity == Change {
			return true
		}
	}
	return false
}

// Denied reports whether an enforced rule denies the request.
func (v *Verdict) Denied() bool {
	for i := range v.Rules {
		if v.Rules[i].Decision == Denied {
			return true
		}
	}
	return false
}

// Changes lists the JSON patch operations of the enforced changes, in the
// order the response's patch carries them but without the
// meshguard.dev/mutated annotation; none when the request is denied, since
// a denied object is not changed.
func (v *Verdict) Changes() []jsonpatch.Operation {
	if v.Denied() {
		return nil
	}
	var ops []jsonpatch.Operation
	for i := range v.Rules {
		if !v.Rules[i].changes() {
			continue
		}
		for _, f := range v.Rules[i].Findings {
			if f.Severity == Change {
				ops = append(ops, f.Patch...)
			}
		}
	}
	return ops
}

// encodePatch encodes a rule's patch operations and says whether they fit
// within the patch limit beside what earlier rules added; ops that do not
// fit are not kept.
func (v *Verdict) encodePatch(ops []jsonpatch.Operation) (fits bool, size int, err error) {
	enc := make([][]byte, len(ops))
	for i, op := range ops {
		if enc[i], err = encodeOp(op); err != nil {
			return false, 0, err
		}
		size += len(enc[i]) + 1
	}
	if v.limits.PatchBytes > 0 && v.patchLen+size > v.limits.PatchBytes {
		return false, size, nil
	}
	v.patch = append(v.patch, enc...)
	v.patchLen += size
	return true, size, nil
}
