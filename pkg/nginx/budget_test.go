package nginx

import (
	"context"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBudgetStopsWorkOnAHugeValue: a 3 MiB value on one line, with 20 ms
// of budget left, must come back soon after the deadline with the value
// skipped for it, not seconds later. The bound leaves more than 5× headroom
// for a loaded machine; before the lexer and parser looked at the context,
// this took seconds.
func TestBudgetStopsWorkOnAHugeValue(t *testing.T) {
	files := map[string]string{"default.conf": repeatTo("server{location /{proxy_pass http://b;}}", 3<<20)}
	const budget = 20 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	r := Rewrite(ctx, files, Options{})
	if d := time.Since(start); d > budget+480*time.Millisecond {
		t.Errorf("returned %v after a %v deadline", d, budget)
	}
	if ctx.Err() == nil {
		t.Skip("the whole rewrite finished within the budget; nothing to check")
	}
	if len(r.Changed) > 0 || len(r.Skipped) != 1 || r.Skipped[0].Reason != reasonDeadline {
		t.Errorf("got %d changed values and skips %+v, want the value skipped for the deadline", len(r.Changed), r.Skipped)
	}
}

// countdownCtx is a context whose Err turns to Canceled after a given
// number of calls: it stops Rewrite at a chosen point of its work, the same
// on every machine.
type countdownCtx struct {
	context.Context
	calls, left *atomic.Int64
}

func newCountdown(left int64) countdownCtx {
	c := countdownCtx{Context: context.Background(), calls: new(atomic.Int64), left: new(atomic.Int64)}
	c.left.Store(left)
	return c
}

func (c countdownCtx) Err() error {
	c.calls.Add(1)
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestBudgetIsCheckedThroughout stops Rewrite at points spread over its
// whole work on every hostile shape. Wherever it stops, a value is either
// returned exactly as the full run returns it (its set of values was done
// in time) or reported skipped for the deadline, never half done; and a long
// value is checked against the budget many times, not only between values.
func TestBudgetIsCheckedThroughout(t *testing.T) {
	for _, sh := range shapes() {
		t.Run(sh.name, func(t *testing.T) {
			files := sh.build(256 << 10)
			full := newCountdown(1 << 62)
			want := Rewrite(full, files, Options{})
			total := full.calls.Load()
			if len(files) == 1 && total < int64(configSize(files)/lexCheckEvery) {
				t.Errorf("a %d-byte value is checked against the budget only %d times", configSize(files), total)
			}
			for _, at := range []int64{0, 1, total / 4, total / 2, total - 1} {
				r := Rewrite(newCountdown(at), files, Options{})
				if at == 0 && len(r.Changed) > 0 {
					t.Fatalf("changed %d values with no budget at all", len(r.Changed))
				}
				skipped := map[string]string{}
				for _, s := range r.Skipped {
					skipped[s.File] = s.Reason
					if s.Reason != reasonDeadline && !skippedFor(want, s) {
						t.Fatalf("stopped after %d of %d checks: %s skipped for %q", at, total, s.File, s.Reason)
					}
				}
				for k, v := range r.Changed {
					if v != want.Changed[k] {
						t.Fatalf("stopped after %d of %d checks: %s changed otherwise than in the full run", at, total, k)
					}
				}
				for k := range want.Changed {
					if _, done := r.Changed[k]; !done && files[k] != "" && NeedsLook(files[k]) && skipped[k] != reasonDeadline {
						t.Fatalf("stopped after %d of %d checks: %s neither changed nor skipped for the deadline", at, total, k)
					}
				}
			}
		})
	}
}

// skippedFor reports whether r skipped s.File for s.Reason too.
func skippedFor(r Result, s Skip) bool {
	for _, o := range r.Skipped {
		if o == s {
			return true
		}
	}
	return false
}

// TestHostileShapesScaleLinearly compares each hostile shape at 128 KiB and
// at 8 times that: linear work costs about 8 times as much (up to 20 when
// the small input still fits a CPU cache and the large one does not),
// quadratic work 64 times. The bound is 40 times, between the two. Each
// size is timed at its fastest of five runs, in CPU time of the process,
// which other processes on a busy machine do not stretch.
func TestHostileShapesScaleLinearly(t *testing.T) {
	if testing.Short() {
		t.Skip("times several runs of 1 MiB inputs")
	}
	for _, sh := range shapes() {
		t.Run(sh.name, func(t *testing.T) {
			small, large := sh.build(128<<10), sh.build(1<<20)
			ts, tl := fastest(small, 5), fastest(large, 5)
			ratio := float64(tl) / float64(ts) * float64(configSize(small)) / float64(configSize(large)) * 8
			t.Logf("128 KiB %v, 1 MiB %v: %.1f×", ts, tl, ratio)
			if ratio > 40 {
				t.Errorf("8 times the input costs %.1f times as much (%v, then %v)", ratio, ts, tl)
			}
		})
	}
}

// fastest returns the least CPU time Rewrite took on files in n runs.
func fastest(files map[string]string, n int) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range n {
		start := cpuTime()
		Rewrite(context.Background(), files, Options{})
		best = min(best, cpuTime()-start)
	}
	return best
}

// TestHostileShapesOutcome pins what Rewrite makes of each hostile shape:
// the ones that are valid config are rewritten (the huge glob matches no
// key, so it is an include of unknown content), the include bombs are
// skipped with a reason saying so, and no message copies a huge name.
func TestHostileShapesOutcome(t *testing.T) {
	skip := map[string]string{
		"include-bomb": "includes fan out to more than",
		"glob-per-key": "includes fan out to more than",
	}
	for _, sh := range shapes() {
		t.Run(sh.name, func(t *testing.T) {
			files := sh.build(64 << 10)
			r := rewrite(files)
			if why, ok := skip[sh.name]; ok {
				if len(r.Changed) > 0 || len(r.Skipped) == 0 {
					t.Fatalf("%d values changed, %d skipped; want every candidate skipped", len(r.Changed), len(r.Skipped))
				}
				for _, s := range r.Skipped {
					if !strings.Contains(s.Reason, why) {
						t.Fatalf("%s skipped for %q, want %q", s.File, s.Reason, why)
					}
				}
				return
			}
			if len(r.Skipped) > 0 || len(r.Changed) == 0 {
				t.Fatalf("%d values changed, skipped %v", len(r.Changed), r.Skipped[:min(len(r.Skipped), 3)])
			}
			for _, e := range r.Edits {
				if len(e.Reason) > 2*maxLabel {
					t.Fatalf("reason of %d bytes: %.200s...", len(e.Reason), e.Reason)
				}
			}
			again := rewrite(applied(r, files))
			if len(again.Edits) > 0 || len(again.Skipped) > 0 {
				t.Errorf("second rewrite: %d edits, skipped %v", len(again.Edits), again.Skipped)
			}
		})
	}
}

func TestClipKeepsRunesWhole(t *testing.T) {
	for in, want := range map[string]string{
		"short":                         "short",
		strings.Repeat("a", 40):         strings.Repeat("a", 40),
		strings.Repeat("a", 41):         strings.Repeat("a", 37) + "...",
		strings.Repeat("a", 36) + "é":   strings.Repeat("a", 36) + "é",
		strings.Repeat("a", 36) + "ééé": strings.Repeat("a", 36) + "...",
	} {
		if got := clip(in); got != want {
			t.Errorf("clip(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLongNamesAreClippedInMessages: a block holding thousands of unknown
// includes with long names gets one message of bounded length.
func TestLongNamesAreClippedInMessages(t *testing.T) {
	long := strings.Repeat("x", 10000)
	src := "location /" + long + " {\n" + strings.Repeat("    include /etc/"+long+".conf;\n", 100) + "    proxy_pass http://" + long + ";\n}\n"
	r := rewrite(map[string]string{"default.conf": src})
	if len(r.Edits) != 1 {
		t.Fatalf("edits %d, skipped %v", len(r.Edits), r.Skipped)
	}
	if e := r.Edits[0]; len(e.Reason) > 4*maxLabel || !strings.Contains(e.Reason, "and 9") {
		t.Errorf("reason of %d bytes: %.300s", len(e.Reason), e.Reason)
	}
}

// TestMinMatchIsALowerBound: no name shorter than minMatch(pattern) matches
// the pattern, so skipping such names changes nothing.
func TestMinMatchIsALowerBound(t *testing.T) {
	patterns := []string{"*", "*.conf", "k?*", "[a-c]x", "[^a]*", "\\*a", "é?", "a[\\]]b", "**a**", "[", "a\\"}
	names := []string{"", "a", "ab", "k1", "bx", "*a", "éz", "a]b", "x.conf", "aaa", "é"}
	for _, p := range patterns {
		for _, n := range names {
			if m, err := path.Match(p, n); err == nil && m && len(n) < minMatch(p) {
				t.Errorf("%q matches %q, shorter than minMatch %d", n, p, minMatch(p))
			}
		}
	}
	for p, want := range map[string]int{"*": 0, "*.conf": 5, "k?*": 2, "[a-c]x": 2, "\\*a": 2, "*a*a*a": 3} {
		if got := minMatch(p); got != want {
			t.Errorf("minMatch(%q) = %d, want %d", p, got, want)
		}
	}
}

// TestLongGlobThatCanMatchIsBounded: a class of 128 KiB matches any key of
// one byte or more, so every key must be matched against it, and each match
// reads the whole class; the include budget stops that after a few keys.
func TestLongGlobThatCanMatchIsBounded(t *testing.T) {
	files := manyKeys(256<<10, func(int) string { return "server { listen 80; }\n" })
	files["default.conf"] = "location / { include [" + strings.Repeat("ab", 64<<10) + "]*; proxy_pass http://b; }\n"
	start := time.Now()
	r := rewrite(files)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	if len(r.Changed) > 0 || len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0].Reason, "includes fan out") {
		t.Errorf("got %d changed, skipped %v; want default.conf skipped for include fan-out", len(r.Changed), r.Skipped)
	}
}
