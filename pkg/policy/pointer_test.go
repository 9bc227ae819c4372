package policy_test

import (
	"slices"
	"testing"

	"github.com/meshguard/meshguard/pkg/policy"
)

func TestPointerRoundTrips(t *testing.T) {
	for name, tc := range map[string]struct {
		tokens []string
		path   string
	}{
		"plain keys":                             {[]string{"data", "default.conf"}, "/data/default.conf"},
		"a slash in an annotation name":          {[]string{"metadata", "annotations", "meshguard.dev/mutated"}, "/metadata/annotations/meshguard.dev~1mutated"},
		"a tilde escaped before the slash":       {[]string{"data", "~/x~1"}, "/data/~0~1x~01"},
		"an empty token is a member named empty": {[]string{"data", ""}, "/data/"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := policy.Pointer(tc.tokens...); got != tc.path {
				t.Fatalf("Pointer(%q) = %q, want %q", tc.tokens, got, tc.path)
			}
			back, err := policy.SplitPointer(tc.path)
			if err != nil || !slices.Equal(back, tc.tokens) {
				t.Fatalf("SplitPointer(%q) = %q, %v; want %q", tc.path, back, err, tc.tokens)
			}
		})
	}
	if _, err := policy.SplitPointer("data/x"); err == nil {
		t.Error("a path without a leading slash was accepted")
	}
}
