package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAPILoadBrief runs 50 creates per kind per variant and 20 namespaces so
// the program cannot rot. It asserts only that the run completes and every
// create got an answer, never timings or memory.
func TestAPILoadBrief(t *testing.T) {
	// In CI (make test builds the tools before bench-smoke runs) a missing
	// KUBEBUILDER_ASSETS is not a reason to skip: Run asks
	// hack/tools/build.sh, which only prints the cached binaries' paths.
	if os.Getenv("KUBEBUILDER_ASSETS") == "" && os.Getenv("CI") != "true" {
		t.Skip("SKIPPED: KUBEBUILDER_ASSETS is not set, so no kube-apiserver to measure through; " +
			`run eval "$(bash hack/tools/build.sh)"; export KUBEBUILDER_ASSETS HELM`)
	}
	if testing.Short() {
		t.Skip("starts kube-apiserver, etcd and the webhook")
	}
	c := Config{Root: "../../..", Creates: 50, Blocks: 2, Clients: 4, Namespaces: []int{20}}
	r, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Variants {
		for _, k := range Kinds {
			s := r.Latency[v][k]
			if s == nil || s.Creates != c.Creates || s.Answered != s.Creates || s.Errors != 0 {
				t.Fatalf("%s/%s: %+v, want %d creates, every one answered", v, k, s, c.Creates)
			}
		}
	}
	if len(r.NSPoints) != 1 {
		t.Fatalf("namespace points: %+v, want one", r.NSPoints)
	}
	var b strings.Builder
	Print(&b, c, r)
	t.Log("\n" + b.String())
}

func TestOnlyKeepsTheOrderAndRefusesUnknownNames(t *testing.T) {
	all := []string{"without", "floor", "with", "cel"}
	if err := only(&all, "cel, without"); err != nil || !slices.Equal(all, []string{"without", "cel"}) {
		t.Errorf("only: %v, %q; want [without cel]", err, all)
	}
	if err := only(&all, "floor"); err == nil {
		t.Errorf("only accepted a name no longer in the list: %q", all)
	}
}

func TestBlockRatios(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	for _, tc := range []struct {
		a, b []time.Duration
		want string
	}{
		{ms(2, 3), ms(1, 1), ""},
		{ms(3, 1, 2), ms(1, 1, 1), "; p50 block by block: median 2.00×, 1.00–3.00× over 3 blocks"},
		{ms(4, 1, 2, 3), ms(1, 1, 1, 1), "; p50 block by block: median 2.50×, 1.00–4.00× over 4 blocks"},
	} {
		if got := blockRatios(tc.a, tc.b); got != tc.want {
			t.Errorf("blockRatios(%v, %v) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}
