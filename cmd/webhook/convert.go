package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	offline "github.com/meshguard/meshguard/pkg/check"
	"github.com/meshguard/meshguard/pkg/convert"
)

const convertUsage = `usage: webhook convert -f PATH [-f PATH...] [flags]

Turns Ingresses into the Gateway API objects that replace them, offline: a
Gateway (gatewayClassName istio) per namespace, or one shared Gateway with
--gateway NAME.NS; an HTTPRoute per host; a ReferenceGrant where a
certificate Secret lives outside the Gateway's namespace. PATH is a file, a
folder (read recursively: *.yaml, *.yml, *.json) or - for stdin;
multi-document YAML, JSON, Lists and kubectl get -o yaml output are read.
networking.k8s.io/v1 Ingresses are read, and the retired extensions/v1beta1
and networking.k8s.io/v1beta1 ones. Services in the input resolve backends
that name a port; other kinds are skipped.

The objects go to stdout as YAML. The report goes to stderr: each Ingress
annotation and field that was carried, approximated or not carried, and what
to do about it (docs/convert.md lists the mapping).

Exit codes:
  0  everything was carried
  1  something was approximated or not carried (the report says what)
  2  usage error, or unreadable or invalid input (the message names the file
     and document)

Flags:
`

// convertFlags are the flags of `webhook convert`.
type convertFlags struct {
	files        listFlag
	to           string
	gateway      string
	staticIPs    listFlag
	reportFormat string
}

func newConvertFlags(prog string, out io.Writer) (*flag.FlagSet, *convertFlags) {
	f := &convertFlags{}
	fs := flag.NewFlagSet("webhook convert", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, as(prog, convertUsage))
		printFlags(out, fs)
	}
	fs.Var(&f.files, "f", "manifest file, folder (recursive) or - for stdin; repeatable")
	fs.StringVar(&f.to, "to", "gateway-api", "what to convert to: gateway-api (istio is not supported yet)")
	fs.StringVar(&f.gateway, "gateway", "", "NAME or NAME.NAMESPACE of the Gateway (default \""+convert.DefaultGatewayName+"\", one per namespace); with .NAMESPACE one Gateway there serves every Ingress")
	fs.Var(&f.staticIPs, "static-ip", "NAME=IP: the address of the static IP an Ingress names in kubernetes.io/ingress.global-static-ip-name; goes into the Gateway's spec.addresses; repeatable")
	fs.StringVar(&f.reportFormat, "report-format", convert.FormatText, "report format on stderr: text or json")
	return fs, f
}

func convertCmd(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs, f := newConvertFlags(prog, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return offline.ExitError
	}
	opts, err := f.options(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "webhook convert: %v\n", err)
		return offline.ExitError
	}
	inputs, err := offline.ReadPaths(f.files, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "webhook convert: %v\n", err)
		return offline.ExitError
	}
	in := &convert.Input{}
	for _, file := range inputs {
		if err := in.Read(file.Name, file.Data); err != nil {
			fmt.Fprintf(stderr, "webhook convert: %v\n", err)
			return offline.ExitError
		}
	}
	if len(in.Ingresses) == 0 {
		fmt.Fprintln(stderr, "webhook convert: the input holds no Ingress: nothing to convert")
		return 0
	}
	res := convert.Convert(in, opts)
	if err := res.WriteYAML(stdout); err != nil {
		fmt.Fprintf(stderr, "webhook convert: %v\n", err)
		return offline.ExitError
	}
	if err := res.Report.Write(stderr, f.reportFormat); err != nil {
		fmt.Fprintf(stderr, "webhook convert: %v\n", err)
		return offline.ExitError
	}
	if !res.Report.AllCarried() {
		return 1
	}
	return 0
}

func (f *convertFlags) options(extra []string) (convert.Options, error) {
	var o convert.Options
	switch {
	case len(extra) > 0:
		return o, fmt.Errorf("unexpected argument %q: name inputs with -f", extra[0])
	case len(f.files) == 0:
		return o, errors.New("no input: pass -f PATH (a file, a folder, or - for stdin)")
	case f.to == "istio":
		return o, errors.New("--to istio is not supported in this version: only --to gateway-api is; convert to Gateway API (Istio serves it with gatewayClassName istio)")
	case f.to != "gateway-api":
		return o, fmt.Errorf("--to %q: only gateway-api is supported in this version", f.to)
	case f.reportFormat != convert.FormatText && f.reportFormat != convert.FormatJSON:
		return o, fmt.Errorf("--report-format %q: use text or json", f.reportFormat)
	}
	if f.gateway != "" {
		name, ns := f.gateway, ""
		if i := strings.LastIndexByte(f.gateway, '.'); i >= 0 {
			name, ns = f.gateway[:i], f.gateway[i+1:]
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				return o, fmt.Errorf("--gateway %q: namespace %q: %s; use NAME or NAME.NAMESPACE", f.gateway, ns, strings.Join(errs, "; "))
			}
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return o, fmt.Errorf("--gateway %q: name %q: %s; use NAME or NAME.NAMESPACE", f.gateway, name, strings.Join(errs, "; "))
		}
		o.GatewayName, o.GatewayNamespace = name, ns
	}
	for _, s := range f.staticIPs {
		name, ip, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return o, fmt.Errorf("--static-ip %q: use NAME=IP, NAME as in kubernetes.io/ingress.global-static-ip-name", s)
		}
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return o, fmt.Errorf("--static-ip %q: %q is not an IP address", s, ip)
		}
		if o.StaticIPs == nil {
			o.StaticIPs = map[string]string{}
		}
		o.StaticIPs[name] = addr.String()
	}
	return o, nil
}
