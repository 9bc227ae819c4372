package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	offline "github.com/meshguard/meshguard/pkg/check"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/convert"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
)

const checkUsage = `usage: webhook check -f PATH [-f PATH...] [flags]

Runs every meshguard rule on manifests, offline, exactly as the webhook would
on their CREATE: mutating rules first, then validating rules on the result.
PATH is a file, a folder (read recursively: *.yaml, *.yml, *.json) or - for
stdin; multi-document YAML, JSON, List kinds and helm template output are read.

Namespaces come from Namespace objects in the input and from
--mesh-namespace / --namespace-labels; IngressClasses from the input. An
Ingress, or an nginx ConfigMap, in a namespace known from neither is reported
as unknown-namespace rather than passed.

Output (-o):
  text   file:line: [rule] message, one line per finding, then a summary
  json   an array of {file, line, documentIndex, kind, namespace, name, rule,
         severity (deny, warn or change), message, source, fixed}
  junit  JUnit XML: a test suite per file, a test case per object; denials
         and changes not written by --fix fail it, warnings go to system-out,
         unreadable documents are errors

--fix writes the mutating rules' changes into the manifests (stdout, or the
files themselves with --in-place), touching only the values that change:
comments, key order, quoting and layout stay. The findings then go to stderr
(to stdout with --in-place). The meshguard.dev/mutated annotation the webhook
adds in the cluster is not written: fixing the source leaves nothing to flag.

--convert prints, to stdout, the Gateway API objects that replace each
Ingress ingress-in-mesh denies (webhook convert --help says how they are
made); the findings and the conversion's report go to stderr.

Exit codes:
  0  no denials, no unknown namespaces, no changes left to make (warnings allowed)
  1  findings: an object would be denied, sits in an unknown namespace, or
     needs a change that --fix did not write
  2  usage error, unreadable or invalid input (the message names the file and
     document), or a change --fix could not write

Flags:
`

// checkFlags are the flags of `webhook check`.
type checkFlags struct {
	files            listFlag
	output           string
	fix, inPlace     bool
	convert          bool
	namespace        string
	meshNamespaces   listFlag
	namespaceLabels  listFlag
	ruleModes        ruleModeFlag
	meshByDefault    bool
	systemNamespaces string
	allowExemptions  bool
	istio            *istioFlags
}

func newCheckFlags(prog string, out io.Writer) (*flag.FlagSet, *checkFlags) {
	f := &checkFlags{}
	fs := flag.NewFlagSet("webhook check", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, as(prog, checkUsage))
		printFlags(out, fs)
	}
	fs.Var(&f.files, "f", "manifest file, folder (recursive) or - for stdin; repeatable")
	fs.StringVar(&f.output, "o", offline.FormatText, "output format: text, json or junit")
	fs.BoolVar(&f.fix, "fix", false, "write the mutating rules' changes into the manifests (to stdout, or in place with --in-place)")
	fs.BoolVar(&f.inPlace, "in-place", false, "with --fix, rewrite the files instead of printing them")
	fs.BoolVar(&f.convert, "convert", false, "print the Gateway API objects that replace each denied Ingress (as webhook convert does) to stdout; the findings and the conversion's report go to stderr")
	fs.StringVar(&f.namespace, "namespace", "default", "namespace of namespaced objects that name none, as kubectl's --namespace")
	fs.Var(&f.meshNamespaces, "mesh-namespace", "NAME: a namespace in the mesh (labelled istio-injection=enabled); repeatable")
	fs.Var(&f.namespaceLabels, "namespace-labels", "NAME=k=v,k=v: a namespace's labels; repeatable; wins over a Namespace in the input")
	fs.Var(&f.ruleModes, "rule-mode", "RULE=off skips a rule (RULE=enforce is the default); repeatable; rules: "+strings.Join(ruleIDs(), ", "))
	fs.BoolVar(&f.meshByDefault, "mesh-by-default", false, "treat unlabelled namespaces as meshed (Istio installed with enableNamespacesByDefault)")
	fs.StringVar(&f.systemNamespaces, "system-namespaces", "", "comma-separated namespaces never meshed by --mesh-by-default (kube-system, kube-public and kube-node-lease always are)")
	fs.BoolVar(&f.allowExemptions, "allow-exemptions", true, "honour meshguard.dev/exempt annotations that carry a meshguard.dev/exempt-reason, as the server does")
	f.istio = addIstioFlags(fs)
	return fs, f
}

func check(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs, f := newCheckFlags(prog, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return offline.ExitError
	}
	opts, err := f.options(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "webhook check: %v\n", err)
		return offline.ExitError
	}
	inputs, err := offline.ReadPaths(f.files, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "webhook check: %v\n", err)
		return offline.ExitError
	}
	files := make([]*offline.File, len(inputs))
	for i, in := range inputs {
		files[i] = offline.Parse(in)
	}
	report := offline.Run(context.Background(), files, opts)

	out := stdout
	if f.fix && !f.inPlace {
		out = stderr
		if err := writeStream(stdout, files); err != nil {
			fmt.Fprintf(stderr, "webhook check: %v\n", err)
			return offline.ExitError
		}
	}
	if f.convert {
		out = stderr
	}
	code := report.ExitCode()
	if f.fix && f.inPlace {
		for _, file := range files {
			if file.Fixed == nil {
				continue
			}
			if err := writeInPlace(file.Path, file.Fixed); err != nil {
				fmt.Fprintf(stderr, "webhook check: %v\n", err)
				code = offline.ExitError
			}
		}
	}
	if err := report.Write(out, f.output); err != nil {
		fmt.Fprintf(stderr, "webhook check: %v\n", err)
		return offline.ExitError
	}
	for _, e := range report.Errors() {
		fmt.Fprintf(stderr, "webhook check: %v\n", e)
	}
	if f.convert {
		format := convert.FormatText
		if f.output == offline.FormatJSON {
			format = convert.FormatJSON
		}
		if err := writeReplacements(report, format, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "webhook check: --convert: %v\n", err)
			return offline.ExitError
		}
	}
	return code
}

func (f *checkFlags) options(extra []string) (offline.Options, error) {
	if len(extra) > 0 {
		return offline.Options{}, fmt.Errorf("unexpected argument %q: name inputs with -f", extra[0])
	}
	if len(f.files) == 0 {
		return offline.Options{}, errors.New("no input: pass -f PATH (a file, a folder, or - for stdin)")
	}
	if !slices.Contains([]string{offline.FormatText, offline.FormatJSON, offline.FormatJUnit}, f.output) {
		return offline.Options{}, fmt.Errorf("-o %q: use text, json or junit", f.output)
	}
	if f.inPlace && !f.fix {
		return offline.Options{}, errors.New("--in-place only makes sense with --fix")
	}
	if f.convert && f.fix && !f.inPlace {
		return offline.Options{}, errors.New("--convert and --fix both print to stdout: add --in-place to --fix, or run them one at a time")
	}
	if f.inPlace && slices.Contains(f.files, "-") {
		return offline.Options{}, errors.New("--in-place cannot rewrite stdin: drop -f - or --in-place")
	}
	var off []string
	for id, mode := range f.ruleModes.modes {
		switch mode {
		case policy.Off:
			off = append(off, id)
		case policy.Enforce:
		default:
			return offline.Options{}, fmt.Errorf("--rule-mode %s=%s: check reports what enforce mode would do; use RULE=off to skip a rule", id, mode)
		}
	}
	namespaces, err := f.namespaceMap()
	if err != nil {
		return offline.Options{}, err
	}
	m := mesh.Options{ByDefault: f.meshByDefault, SystemNamespaces: splitList(f.systemNamespaces)}
	istio, err := f.istio.ingress()
	if err != nil {
		return offline.Options{}, err
	}
	return offline.Options{
		Rules: func(c cluster.Reader) policy.Rules {
			return rules(c, settings{mesh: m, istio: istio, rootNamespace: f.istio.root, allowExemptions: f.allowExemptions})
		},
		Off:              off,
		AllowExemptions:  f.allowExemptions,
		DefaultNamespace: f.namespace,
		Namespaces:       namespaces,
		Fix:              f.fix,
	}, nil
}

// namespaceMap turns --mesh-namespace and --namespace-labels into labels.
func (f *checkFlags) namespaceMap() (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	set := func(ns, k, v string) {
		if out[ns] == nil {
			out[ns] = map[string]string{}
		}
		out[ns][k] = v
	}
	for _, ns := range f.meshNamespaces {
		if ns == "" {
			return nil, errors.New("--mesh-namespace needs a namespace name")
		}
		set(ns, mesh.InjectionLabel, mesh.InjectionEnabled)
	}
	for _, v := range f.namespaceLabels {
		ns, labels, ok := strings.Cut(v, "=")
		if !ok || ns == "" {
			return nil, fmt.Errorf("--namespace-labels %q: use NAME=key=value,key=value", v)
		}
		if out[ns] == nil {
			out[ns] = map[string]string{}
		}
		for kv := range strings.SplitSeq(labels, ",") {
			k, val, ok := strings.Cut(kv, "=")
			if kv == "" {
				continue
			}
			if !ok || k == "" {
				return nil, fmt.Errorf("--namespace-labels %q: %q is not key=value", v, kv)
			}
			set(ns, k, val)
		}
	}
	return out, nil
}

// writeStream prints every input, fixed where something changed, as one
// YAML stream that can be piped to kubectl apply -f -. Each input's bytes are
// written as they are: a newline is added only where the next input's "---"
// needs a line of its own, so a single input with nothing to change comes
// out byte-identical.
func writeStream(w io.Writer, files []*offline.File) error {
	var prev []byte
	for i, f := range files {
		data := f.Fixed
		if data == nil {
			data = f.Data
		}
		if i > 0 {
			sep := ""
			if len(prev) > 0 && prev[len(prev)-1] != '\n' {
				sep = "\n"
			}
			if !strings.HasPrefix(string(data), "---") {
				sep += "---\n"
			}
			if _, err := io.WriteString(w, sep); err != nil {
				return err
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		if len(data) > 0 {
			prev = data
		}
	}
	return nil
}

// writeInPlace replaces a file atomically, keeping its permissions, so an
// interrupted run never leaves half a manifest.
func writeInPlace(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
