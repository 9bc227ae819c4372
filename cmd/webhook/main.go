// Command webhook is meshguard: a Kubernetes admission webhook that guards a
// cluster while teams move applications into an Istio service mesh.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `meshguard admission webhook (also a kubectl plugin: link it as kubectl-meshguard)

usage:
  webhook serve [flags]    run the admission server (webhook serve --help lists the flags)
  webhook check -f PATH    run the rules offline on manifests (webhook check --help)
  webhook convert -f PATH  turn Ingresses into Gateway API (or --to istio) objects; without -f, from the cluster (webhook convert --help)
  webhook rules [-o json]  list the rules and the objects each reviews
  webhook policies         print the admission policies compiled from the rules (webhook policies --help)
  webhook remove-webhooks  delete meshguard's webhook configurations (the chart's pre-delete hook)
  webhook version          print the version and commit
`

func main() {
	os.Exit(runAs(progName(os.Args[0]), os.Args[1:], os.Stdout, os.Stderr))
}

// run is runAs under the binary's own name.
func run(args []string, stdout, stderr io.Writer) int {
	return runAs("webhook", args, stdout, stderr)
}

// runAs dispatches subcommands, speaking of itself as prog ("webhook", or
// "kubectl meshguard" as a kubectl plugin); it returns the process exit
// code (2 for usage errors).
func runAs(prog string, args []string, stdout, stderr io.Writer) int {
	usage := usageAs(prog)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(prog, args[1:], stderr)
	case "check":
		return check(prog, args[1:], os.Stdin, stdout, stderr)
	case "convert":
		return convertCmd(prog, args[1:], os.Stdin, stdout, stderr)
	case "rules":
		return listRules(prog, args[1:], stdout, stderr)
	case "policies":
		return policiesCmd(prog, args[1:], stdout, stderr)
	case "remove-webhooks":
		return removeWebhooks(prog, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return 2
}

// usageAs is the top-level usage with the commands written as prog runs them.
func usageAs(prog string) string {
	return as(prog, usage)
}

// as writes the commands in a usage text ("  webhook check …", "(webhook
// serve --help …)", "usage: webhook …") as prog runs them.
func as(prog, text string) string {
	for _, before := range []string{"\n  ", "(", "usage: "} {
		text = strings.ReplaceAll(text, before+"webhook ", before+prog+" ")
	}
	return text
}
