package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// printFlags lists fs's flags the way the README and Kubernetes tools write
// them: --name for long flags, -x for one-letter ones (Go's flag package
// accepts both forms; its own listing writes -name).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		kind, usage := flag.UnquoteUsage(f)
		line := "  " + dash + f.Name
		if kind != "" {
			line += " " + kind
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if !zeroDefault(f.DefValue) {
			if kind == "string" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(w)
	})
}

// zeroDefault reports whether a flag's default is its type's zero value,
// which the listing leaves unsaid.
func zeroDefault(v string) bool {
	switch v {
	case "", "0", "false", "0s", "[]":
		return true
	}
	return false
}

// pluginName is the binary's name as a kubectl plugin: installed (or
// linked) as kubectl-meshguard on the PATH, it answers `kubectl meshguard`.
const pluginName = "kubectl-meshguard"

// progName is how the user called the binary: "kubectl meshguard" when it
// runs as the kubectl plugin, "webhook" otherwise.
func progName(arg0 string) string {
	if strings.TrimSuffix(filepath.Base(arg0), ".exe") == pluginName {
		return "kubectl meshguard"
	}
	return "webhook"
}
