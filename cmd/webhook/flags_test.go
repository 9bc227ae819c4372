package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestHelpWritesFlagsWithTwoDashes: every help lists long flags as --name
// (as the README, the chart and kubectl write them) and one-letter flags
// as -x.
func TestHelpWritesFlagsWithTwoDashes(t *testing.T) {
	for _, cmd := range []string{"serve", "check", "rules"} {
		var out bytes.Buffer
		if code := run([]string{cmd, "--help"}, &out, &out); code != 0 {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		help := out.String()
		if bad := regexp.MustCompile(`(?m)^  -[a-z][a-z-]+`).FindAllString(help, -1); len(bad) > 0 {
			t.Errorf("%s --help lists %q with one dash", cmd, bad)
		}
		if cmd != "rules" && !regexp.MustCompile(`(?m)^  --[a-z]`).MatchString(help) {
			t.Errorf("%s --help lists no --flag:\n%s", cmd, help)
		}
	}
	var out bytes.Buffer
	run([]string{"serve", "--help"}, &out, &out)
	for _, want := range []string{"\n  --audit-interval duration\n", "(default 1h0m0s)", "\n  --cert-dir string\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	out.Reset()
	run([]string{"check", "--help"}, &out, &out)
	if !strings.Contains(out.String(), "\n  -f value\n") || !strings.Contains(out.String(), "\n  -o string\n") {
		t.Errorf("check --help does not list -f and -o with one dash:\n%s", out.String())
	}
}

// TestKubectlPlugin: named kubectl-meshguard, the binary speaks of itself
// as `kubectl meshguard`, in its usage and its subcommands' help.
func TestKubectlPlugin(t *testing.T) {
	for arg0, want := range map[string]string{
		"/usr/local/bin/kubectl-meshguard": "kubectl meshguard",
		"kubectl-meshguard.exe":            "kubectl meshguard",
		"bin/webhook":                      "webhook",
		"/kubectl-meshguard-old":           "webhook",
	} {
		if got := progName(arg0); got != want {
			t.Errorf("progName(%q) = %q, want %q", arg0, got, want)
		}
	}
	var out bytes.Buffer
	if code := runAs("kubectl meshguard", []string{"help"}, &out, &out); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, want := range []string{"\n  kubectl meshguard check -f PATH", "(kubectl meshguard serve --help"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	runAs("kubectl meshguard", []string{"check", "--help"}, &out, &out)
	if !strings.HasPrefix(out.String(), "usage: kubectl meshguard check -f PATH") {
		t.Errorf("check --help as a plugin starts %.60q", out.String())
	}
}
