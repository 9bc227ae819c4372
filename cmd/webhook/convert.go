package main

import (
	"context"
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

const convertUsage = `usage: webhook convert -f PATH [-f PATH...] [-n NAMESPACE] [flags]
       webhook convert [-n NAMESPACE | -A] [INGRESS...] [--kubeconfig FILE] [--context NAME] [flags]

Turns Ingresses into the Gateway API objects that replace them: a
Gateway (gatewayClassName istio) per namespace, or one shared Gateway with
--gateway NAME.NS; an HTTPRoute per host; a ReferenceGrant where a
certificate Secret lives outside the Gateway's namespace. With --to istio: an
Istio Gateway (selector istio: ingressgateway, TLS by credentialName) and a
VirtualService per host instead. PATH is a file, a
folder (read recursively: *.yaml, *.yml, *.json) or - for stdin;
multi-document YAML, JSON, Lists and kubectl get -o yaml output are read.
networking.k8s.io/v1 Ingresses are read, and the retired extensions/v1beta1
and networking.k8s.io/v1beta1 ones. Services in the input resolve backends
that name a port; other kinds are skipped. -n names the namespace of objects
that name none (default "default").

Without -f, the Ingresses are read from the cluster of the kubeconfig
($KUBECONFIG, ~/.kube/config, or the pod's service account), with gets and
lists only: the named INGRESSes of one namespace (-n, default the context's),
every Ingress of that namespace, or of all namespaces with -A; the Services
of those namespaces and the IngressClasses are read to resolve ports and
classes. Nothing is written to the cluster.

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
	scope        clusterScope
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
	fs.StringVar(&f.to, "to", "gateway-api", "what to convert to: gateway-api (a Gateway with gatewayClassName istio, HTTPRoutes, ReferenceGrants) or istio (an Istio Gateway with credentialName TLS, VirtualServices; docs/convert.md)")
	fs.StringVar(&f.gateway, "gateway", "", "NAME or NAME.NAMESPACE of the Gateway (default \""+convert.DefaultGatewayName+"\", one per namespace); with .NAMESPACE one Gateway there serves every Ingress")
	fs.Var(&f.staticIPs, "static-ip", "NAME=IP: the address of the static IP an Ingress names in kubernetes.io/ingress.global-static-ip-name; goes into the Gateway's spec.addresses; repeatable")
	fs.StringVar(&f.reportFormat, "report-format", convert.FormatText, "report format on stderr: text or json")
	for _, n := range []string{"n", "namespace"} {
		fs.StringVar(&f.scope.namespace, n, "", "with -f: the namespace of objects that name none (default \"default\"); else the namespace read from the cluster (default: the context's)")
	}
	for _, n := range []string{"A", "all-namespaces"} {
		fs.BoolVar(&f.scope.all, n, false, "read the Ingresses of every namespace of the cluster")
	}
	fs.StringVar(&f.scope.kubeconfig, "kubeconfig", "", "kubeconfig file to read the cluster from (default: $KUBECONFIG, ~/.kube/config, then the in-cluster config)")
	fs.StringVar(&f.scope.context, "context", "", "the kubeconfig context to use (default: its current context)")
	return fs, f
}

func convertCmd(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs, f := newConvertFlags(prog, stderr)
	names, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return offline.ExitError
	}
	f.scope.names = names
	opts, err := f.options()
	if err != nil {
		fmt.Fprintf(stderr, "webhook convert: %v\n", err)
		return offline.ExitError
	}
	in, err := f.input(stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "webhook convert: %v\n", err)
		return offline.ExitError
	}
	if len(in.Ingresses) == 0 {
		fmt.Fprintf(stderr, "webhook convert: %s holds no Ingress: nothing to convert\n", f.source())
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

// input reads the files of -f, or else the cluster.
func (f *convertFlags) input(stdin io.Reader, stderr io.Writer) (*convert.Input, error) {
	if len(f.files) == 0 {
		return readCluster(context.Background(), f.scope, func(msg string) { fmt.Fprintf(stderr, "webhook convert: %s\n", msg) })
	}
	inputs, err := offline.ReadPaths(f.files, stdin)
	if err != nil {
		return nil, err
	}
	in := &convert.Input{}
	for _, file := range inputs {
		if err := in.Read(file.Name, file.Data); err != nil {
			return nil, err
		}
	}
	if f.scope.namespace != "" {
		defaultNamespace(in, f.scope.namespace)
	}
	return in, nil
}

// source names what was read, for messages.
func (f *convertFlags) source() string {
	switch {
	case len(f.files) > 0:
		return "the input"
	case f.scope.all:
		return "the cluster"
	case f.scope.namespace != "":
		return fmt.Sprintf("namespace %q", f.scope.namespace)
	}
	return "the context's namespace"
}

func (f *convertFlags) options() (convert.Options, error) {
	var o convert.Options
	if err := f.scope.check(f.files); err != nil {
		return o, err
	}
	to, err := convert.ParseTarget(f.to)
	if err != nil {
		return o, fmt.Errorf("--to: %w", err)
	}
	o.To = to
	if f.reportFormat != convert.FormatText && f.reportFormat != convert.FormatJSON {
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
