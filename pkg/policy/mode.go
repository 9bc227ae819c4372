package policy

import (
	"fmt"
	"strings"
)

// Mode says what a rule's findings do.
type Mode string

// The modes; switching between them is a flag change, never a delete.
const (
	Enforce Mode = "enforce"
	Audit   Mode = "audit"
	Off     Mode = "off"
)

// ParseMode accepts enforce, audit and off.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Enforce, Audit, Off:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q: use enforce, audit or off", s)
}

// Modes is the global mode plus per-rule overrides.
type Modes struct {
	Default Mode
	PerRule map[string]Mode
}

// For returns the mode in force for a rule.
func (m Modes) For(rule string) Mode {
	if mode, ok := m.PerRule[rule]; ok {
		return mode
	}
	if m.Default == "" {
		return Enforce
	}
	return m.Default
}
