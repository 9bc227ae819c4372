package main

import (
	"time"

	"github.com/meshguard/meshguard/internal/harness"
)

// The control plane, the webhook process and the chart's webhook
// configurations come from internal/harness, shared with `make demo` and
// test/e2e.

// webhook is the `webhook serve` process under measurement.
type webhook struct{ *harness.Webhook }

// procCPU returns a process's user+system CPU time so far; 0 if it cannot
// be read.
func procCPU(pid int) time.Duration {
	d, _ := harness.ProcCPU(pid)
	return d
}
