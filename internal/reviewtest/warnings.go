package reviewtest

import (
	"strings"
	"testing"
)

// Warnings checks a response's warnings: with want nil there must be none;
// otherwise each of want must be a substring of them, and none of absent.
func Warnings(t testing.TB, warnings, want, absent []string) {
	t.Helper()
	joined := strings.Join(warnings, "\n")
	if want == nil && joined != "" {
		t.Errorf("want no warning, got %q", joined)
	}
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings lack %q:\n%s", w, joined)
		}
	}
	for _, a := range absent {
		if strings.Contains(joined, a) {
			t.Errorf("warnings must not name %q:\n%s", a, joined)
		}
	}
}
