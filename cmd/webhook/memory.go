package main

import (
	"fmt"
	"math"
	"runtime/debug"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/resource"
)

// memoryLimitEnv carries the container's memory limit in bytes; the chart
// sets it from the downward API (resourceFieldRef limits.memory).
const memoryLimitEnv = "MEMORY_LIMIT"

// defaultInFlightBytes caps the bytes held by reviews in flight when the
// container's memory limit is unknown.
const defaultInFlightBytes = 32 << 20

// inFlightShare is the part of the container's memory limit, 1/inFlightShare,
// that bodies of reviews in flight may hold.
const inFlightShare = 64

// memoryPlan is how the process keeps inside its container's memory.
type memoryPlan struct {
	// container is the container's memory limit in bytes; 0: unknown.
	container int64
	// goLimit is the Go runtime's soft memory limit to set; 0: leave it,
	// either because GOMEMLIMIT is set (explicit) or nothing is known.
	goLimit  int64
	explicit bool
	// inFlight caps the bytes held by reviews in flight (--max-in-flight-bytes).
	inFlight int64
}

// planMemory derives the memory settings from the environment and the flag.
// The runtime's soft limit is 90 % of the container's: the GC works harder
// as the heap nears it, instead of the kernel killing the process past it,
// and the rest is left for what the runtime's limit does not count (the
// binary's text, kernel-side buffers) and for overshoot while the GC catches
// up. Reviews in flight are charged their body size and capped at 1/64 of
// the limit: at its peak one review holds up to about 40 times its body
// (decoding, the nginx analysis and its check; docs/performance.md), so the
// cap keeps reviews under about two thirds of the limit and leaves the rest
// for the informer cache and the runtime.
func planMemory(getenv func(string) string, maxInFlight int64) (memoryPlan, error) {
	var p memoryPlan
	if maxInFlight < 0 {
		return p, fmt.Errorf("--max-in-flight-bytes must not be negative (0 derives it from $%s)", memoryLimitEnv)
	}
	if v := getenv(memoryLimitEnv); v != "" {
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return p, fmt.Errorf("$%s=%q is not a memory size in bytes", memoryLimitEnv, v)
		}
		p.container = q.Value()
	}
	p.explicit = getenv("GOMEMLIMIT") != ""
	if p.container > 0 && !p.explicit {
		p.goLimit = p.container / 10 * 9
	}
	switch {
	case maxInFlight > 0:
		p.inFlight = maxInFlight
	case p.container > 0:
		p.inFlight = p.container / inFlightShare
	default:
		p.inFlight = defaultInFlightBytes
	}
	return p, nil
}

// apply sets the runtime's soft memory limit and logs what is in force.
func (p memoryPlan) apply(log logr.Logger) {
	source := "none"
	switch {
	case p.explicit:
		source = "GOMEMLIMIT"
	case p.goLimit > 0:
		debug.SetMemoryLimit(p.goLimit)
		source = "90% of $" + memoryLimitEnv
	}
	limit := debug.SetMemoryLimit(-1) // reads the limit in force
	keys := []any{"goMemLimitFrom", source, "maxInFlightBytes", p.inFlight}
	if limit != math.MaxInt64 {
		keys = append(keys, "goMemLimit", limit)
	}
	if p.container > 0 {
		keys = append(keys, "containerMemoryLimit", p.container)
	}
	log.Info("memory limits", keys...)
}

// byteSize is a flag holding a number of bytes, written as a plain number
// or a Kubernetes quantity (64Mi).
type byteSize struct{ n *int64 }

func (b byteSize) String() string {
	if b.n == nil {
		return "0"
	}
	return fmt.Sprint(*b.n)
}

func (b byteSize) Set(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() < 0 {
		return fmt.Errorf("%q is not a size in bytes (e.g. 33554432 or 32Mi)", v)
	}
	*b.n = q.Value()
	return nil
}
