// Command demo is `make demo`: it starts a local kube-apiserver and etcd
// (envtest, on the binaries from hack/tools/build.sh) with the Istio CRDs,
// runs the webhook binary on 127.0.0.1, registers the Helm chart's own webhook
// configurations pointed at it, applies the story's manifests from
// examples/story into a mesh-enabled and a plain namespace, first in enforce
// and then in audit mode, and prints what happened to each object.
//
// Without -once it then keeps the control plane and the webhook running for
// trying other manifests, until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	var o options
	flag.StringVar(&o.Repo, "repo", "../..", "the meshguard repository root")
	flag.StringVar(&o.Webhook, "webhook", "", "the webhook binary (empty: go build ./cmd/webhook into the temporary directory)")
	flag.BoolVar(&o.Once, "once", false, "exit after the printout; status 0 only when every outcome is the expected one")
	flag.Parse()
	o.Out = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		if !errors.Is(err, errMismatch) {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		}
		os.Exit(1)
	}
}
