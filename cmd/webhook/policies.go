package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policies"
	"github.com/meshguard/meshguard/pkg/policy"
)

const policiesUsage = `usage: webhook policies [flags]

Prints, as YAML, the admission policies meshguard compiles from its rules for
the API server to enforce itself: for ingress-in-mesh a
ValidatingAdmissionPolicy and its binding, and the parameter ConfigMap
(NAME-policy-params in --namespace) that holds the cluster's IngressClasses
and their controllers; for gce-metadata-address a MutatingAdmissionPolicy
(enforce mode) and a warning ValidatingAdmissionPolicy, with bindings. Printed here, the ConfigMap is empty; the running
meshguard (webhook serve --compiled-rules, the chart's engine value) writes
these objects itself, keeps the parameters in sync with the IngressClasses
and puts back edits; --check compares a live cluster's objects with them.
docs/policies.md says what they check and where their messages differ from
the webhook's.

Flags:
`

func policiesCmd(prog string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("webhook policies", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, as(prog, policiesUsage))
		printFlags(stderr, fs)
	}
	name := fs.String("name", "meshguard", "name prefix of the objects (the chart uses its fullname)")
	namespace := fs.String("namespace", "meshguard-system", "meshguard's namespace: holds the parameter ConfigMap, and no policy matches it")
	mode := fs.String("mode", string(policy.Enforce), "global mode: enforce (deny) or audit (warn and audit annotations)")
	var ruleModes ruleModeFlag
	fs.Var(&ruleModes, "rule-mode", "per-rule mode RULE=enforce|audit|off, repeatable")
	excluded := fs.String("excluded-namespaces", "kube-system,kube-node-lease", "comma-separated namespaces no policy matches, besides --namespace")
	allowExemptions := fs.Bool("allow-exemptions", true, "honour meshguard.dev/exempt annotations that carry a meshguard.dev/exempt-reason")
	exemptionAuthz := fs.Bool("exemption-authz", false, "honour an exemption only when the user who adds it may (verb exempt on rules.meshguard.dev, name the rule, in the namespace)")
	meshByDefault := fs.Bool("mesh-by-default", false, "treat unlabelled namespaces as meshed (Istio installed with enableNamespacesByDefault)")
	system := fs.String("system-namespaces", "", "comma-separated namespaces never meshed by --mesh-by-default")
	istio := addIstioFlags(fs)
	check := fs.Bool("check", false, "instead of printing, compare with the cluster of --kubeconfig: every object present, as meshguard compiles it with these flags, and no type-checking warnings (exit 1 otherwise)")
	kubeconfig := fs.String("kubeconfig", "", "with --check: kubeconfig file (default: $KUBECONFIG, then the in-cluster config)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "webhook policies: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	m, err := policy.ParseMode(*mode)
	if err != nil || m == policy.Off {
		return fail(fmt.Errorf("--mode %q: use enforce or audit", *mode))
	}
	in, err := istio.ingress()
	if err != nil {
		return fail(err)
	}
	objs, err := policies.Compile(policies.Options{
		Name: *name, Namespace: *namespace, Rules: policies.Compilable,
		Modes:    policy.Modes{Default: m, PerRule: ruleModes.modes},
		Excluded: splitList(*excluded), AllowExemptions: *allowExemptions, ExemptionAuthz: *exemptionAuthz,
		Mesh: mesh.Options{ByDefault: *meshByDefault, SystemNamespaces: splitList(*system)}, Istio: in,
	})
	if err != nil {
		return fail(err)
	}
	if len(objs) == 0 {
		fmt.Fprintln(stderr, "webhook policies: every compilable rule is off: nothing to print")
		return 0
	}
	if *check {
		cfg, err := restConfig(*kubeconfig)
		if err != nil {
			return fail(err)
		}
		c, err := client.New(cfg, client.Options{})
		if err != nil {
			return fail(err)
		}
		ok, err := checkPolicies(context.Background(), c, objs, stdout)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return 1
		}
		return 0
	}
	var b strings.Builder
	for i, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			return fail(err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		return fail(err)
	}
	return 0
}
