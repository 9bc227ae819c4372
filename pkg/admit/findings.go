package admit

import "github.com/meshguard/meshguard/pkg/policy"

// Finding is one thing a rule says about the object, as the webhook's
// response would show it.
type Finding struct {
	Rule string
	// Severity is policy.Violation, policy.Advice or policy.Change.
	Severity policy.Severity
	// Message is the rule's message; a denial carries the note of an
	// exemption that was asked for and not granted.
	Message string
}

// Findings lists what the webhook would show of the verdicts: the mutating
// rules' findings first, then the validating rules', each in its rule's
// order. Rules an exemption covers and values a rule skipped are left out,
// as the response leaves them out.
func (r *Result) Findings() []Finding {
	var out []Finding
	for _, v := range []*policy.Verdict{r.Mutating, r.Validating} {
		if v == nil {
			continue
		}
		for i := range v.Rules {
			rv := &v.Rules[i]
			if rv.Exemption.Granted {
				continue
			}
			for _, f := range rv.Findings {
				if f.Severity == policy.Skipped {
					continue
				}
				out = append(out, Finding{Rule: rv.ID, Severity: f.Severity, Message: rv.Message(f)})
			}
		}
	}
	return out
}
