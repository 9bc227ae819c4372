package policy

import (
	"fmt"
	"strings"
)

// Annotations through which an object asks to be exempted from rules.
const (
	ExemptAnnotation       = "meshguard.dev/exempt"
	ExemptReasonAnnotation = "meshguard.dev/exempt-reason"
)

// checkExemption decides an object's exemption request for one rule.
func checkExemption(rule string, annotations map[string]string, allow bool) Exemption {
	if !listsRule(annotations[ExemptAnnotation], rule) {
		return Exemption{}
	}
	if !allow {
		return Exemption{Note: fmt.Sprintf("(the object asks for an exemption from %s, but exemptions are turned off on this cluster; ask the cluster admins)", rule)}
	}
	reason := strings.TrimSpace(annotations[ExemptReasonAnnotation])
	if reason == "" {
		return Exemption{Note: fmt.Sprintf("(the object asks for an exemption from %s, but it is not granted without a reason: set a non-empty %s annotation)", rule, ExemptReasonAnnotation)}
	}
	return Exemption{Granted: true, Reason: reason}
}

// Exempted reports whether annotations exempt an object from rule: they
// ask for it with a reason, and allow says the cluster honours exemptions.
// A rule that speaks about other objects (namespace-joins-mesh naming a
// namespace's Ingresses) leaves the exempted ones out with it.
func Exempted(rule string, annotations map[string]string, allow bool) bool {
	return checkExemption(rule, annotations, allow).Granted
}

func listsRule(list, rule string) bool {
	for item := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(item) == rule {
			return true
		}
	}
	return false
}
