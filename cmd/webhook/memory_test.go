package main

import (
	"io"
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

func TestPlanMemory(t *testing.T) {
	const mi = 1 << 20
	tests := map[string]struct {
		env         map[string]string
		flag        int64
		want        memoryPlan
		errContains string
	}{
		"the chart's limit of 256Mi, as the downward API writes it": {
			env:  map[string]string{"MEMORY_LIMIT": "268435456"},
			want: memoryPlan{container: 256 * mi, goLimit: 256 * mi / 10 * 9, inFlight: 4 * mi}},
		"a quantity": {
			env:  map[string]string{"MEMORY_LIMIT": "1Gi"},
			want: memoryPlan{container: 1024 * mi, goLimit: 1024 * mi / 10 * 9, inFlight: 16 * mi}},
		"an explicit GOMEMLIMIT wins": {
			env:  map[string]string{"MEMORY_LIMIT": "268435456", "GOMEMLIMIT": "100MiB"},
			want: memoryPlan{container: 256 * mi, explicit: true, inFlight: 4 * mi}},
		"no limit known": {
			want: memoryPlan{inFlight: 32 * mi}},
		"the flag wins over the derivation": {
			env: map[string]string{"MEMORY_LIMIT": "268435456"}, flag: 8 * mi,
			want: memoryPlan{container: 256 * mi, goLimit: 256 * mi / 10 * 9, inFlight: 8 * mi}},
		"a limit that is not a size": {
			env: map[string]string{"MEMORY_LIMIT": "lots"}, errContains: `$MEMORY_LIMIT="lots" is not a memory size`},
		"a zero limit": {
			env: map[string]string{"MEMORY_LIMIT": "0"}, errContains: "is not a memory size"},
		"a negative flag": {
			flag: -1, errContains: "--max-in-flight-bytes must not be negative"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := planMemory(func(k string) string { return tc.env[k] }, tc.flag)
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("error %v, want one containing %q", err, tc.errContains)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("plan %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestMemoryPlanApply(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	var logged string
	log := funcr.New(func(_, args string) { logged = args }, funcr.Options{})

	memoryPlan{container: 256 << 20, goLimit: 230 << 20, inFlight: 32 << 20}.apply(log)
	if got := debug.SetMemoryLimit(-1); got != 230<<20 {
		t.Errorf("the runtime's memory limit is %d, want %d", got, 230<<20)
	}
	for _, want := range []string{`"goMemLimitFrom"="90% of $MEMORY_LIMIT"`, `"goMemLimit"=241172480`, `"maxInFlightBytes"=33554432`, `"containerMemoryLimit"=268435456`} {
		if !strings.Contains(logged, want) {
			t.Errorf("the start-up log %s lacks %s", logged, want)
		}
	}

	debug.SetMemoryLimit(100 << 20) // as the runtime does from GOMEMLIMIT
	memoryPlan{container: 256 << 20, explicit: true, inFlight: 32 << 20}.apply(log)
	if got := debug.SetMemoryLimit(-1); got != 100<<20 {
		t.Errorf("an explicit GOMEMLIMIT was replaced by %d", got)
	}
	if !strings.Contains(logged, `"goMemLimitFrom"="GOMEMLIMIT"`) {
		t.Errorf("the start-up log %s does not name GOMEMLIMIT", logged)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	memoryPlan{inFlight: 32 << 20}.apply(logr.Discard())
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("a memory limit %d was set although none is known", got)
	}
}

func TestMaxInFlightBytesFlag(t *testing.T) {
	for v, want := range map[string]int64{"33554432": 32 << 20, "32Mi": 32 << 20, "0": 0} {
		fs, f := newServeFlags(io.Discard)
		if err := fs.Parse([]string{"--max-in-flight-bytes", v}); err != nil || f.maxInFlightBytes != want {
			t.Errorf("--max-in-flight-bytes %s: %d, %v; want %d", v, f.maxInFlightBytes, err, want)
		}
	}
	fs, _ := newServeFlags(io.Discard)
	if err := fs.Parse([]string{"--max-in-flight-bytes", "much"}); err == nil {
		t.Error("--max-in-flight-bytes much was accepted")
	}
}
