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

// exemption is the outcome of an object's exemption request for one rule.
type exemption struct {
	granted bool
	// note is appended to the rule's messages when an exemption was asked for but
	// not granted, so the user learns why it did not work.
	note   string
	reason string
}

func checkExemption(rule string, annotations map[string]string, allow bool) exemption {
	if !listsRule(annotations[ExemptAnnotation], rule) {
		return exemption{}
	}
	if !allow {
		return exemption{note: fmt.Sprintf("(the object asks for an exemption from %s, but exemptions are turned off on this cluster; ask the cluster admins)", rule)}
	}
	reason := strings.TrimSpace(annotations[ExemptReasonAnnotation])
	if reason == "" {
		return exemption{note: fmt.Sprintf("(the object asks for an exemption from %s, but it is not granted without a reason: set a non-empty %s annotation)", rule, ExemptReasonAnnotation)}
	}
	return exemption{granted: true, reason: reason}
}

func listsRule(list, rule string) bool {
	for item := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(item) == rule {
			return true
		}
	}
	return false
}
