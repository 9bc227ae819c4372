package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestLoadBrief runs the generator for about two seconds so it cannot rot. It
// asserts only that every request got a decision, never timings.
func TestLoadBrief(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two HTTPS servers")
	}
	c := Config{Root: "../../..", Clients: 4, Duration: time.Second, MaxRequests: 50_000, Rate: 200, RateFor: 500 * time.Millisecond}
	r, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for phase, m := range map[string]map[string]*Stats{"closed-loop": r.Throughput, "fixed-rate": r.Rate} {
		for _, target := range Targets {
			s := m[target]
			if s == nil || s.Requests == 0 || s.Errors != 0 || s.Decisions != s.Requests {
				t.Fatalf("%s %s: %+v, want every request decided", phase, target, s)
			}
		}
	}
	var b strings.Builder
	Print(&b, c, r)
	t.Log("\n" + b.String())
}
