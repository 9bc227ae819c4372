// Command webhook is meshguard: a Kubernetes admission webhook that guards a
// cluster while teams move applications into an Istio service mesh.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `meshguard admission webhook

usage:
  webhook serve [flags]    run the admission server (webhook serve --help lists the flags)
  webhook check -f PATH    run the rules offline on manifests (webhook check --help)
  webhook rules [-o json]  list the rules and the objects each reviews
  webhook version          print the version and commit
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches subcommands; it returns the process exit code (2 for usage errors).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "check":
		return check(args[1:], os.Stdin, stdout, stderr)
	case "rules":
		return listRules(args[1:], stdout, stderr)
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
