package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
)

// rules is THE list of meshguard's rules. Adding a rule is one file in
// pkg/validate or pkg/mutate, its test, and one line here (plus a webhook rule
// in the chart when it needs a new kind; test/chart fails until it has one).
func rules(c cluster.Reader, s settings) policy.Rules {
	m := s.mesh
	return policy.Rules{
		Validating: []policy.Validator{
			validate.IngressInMesh{Namespaces: c, Classes: c, Mesh: m, Istio: s.istio},
			validate.NamespaceJoinsMesh{Ingresses: c, Classes: c, Mesh: m, Istio: s.istio, AllowExemptions: s.allowExemptions},
			validate.ProbeRewriteDisabled{Namespaces: c, Peers: c, Mesh: m, RootNamespace: s.rootNamespace},
		},
		Mutating: []policy.Mutator{
			mutate.NginxHTTP11{Namespaces: c, Mesh: m},
			mutate.GCEMetadataAddress{},
			mutate.GatewayCredentialName{},
		},
	}
}

// settings are what the rules need to know of the cluster's configuration.
type settings struct {
	mesh  mesh.Options
	istio validate.IstioIngress
	// rootNamespace is Istio's meshConfig.rootNamespace.
	rootNamespace string
	// allowExemptions is --allow-exemptions: rules that name other objects
	// leave exempted ones out.
	allowExemptions bool
}

// ruleIDs lists every rule's ID, for validating --rule-mode.
func ruleIDs() []string { return rules(cluster.Reader{}, settings{}).IDs() }

// declaration is one rule as `webhook rules` prints it: what the chart's
// webhook entries, and a platform team's own, must send it.
type declaration struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Kinds      []declarationKind `json:"kinds"`
	Operations []string          `json:"operations"`
	MeshOnly   bool              `json:"meshOnly"`
}

type declarationKind struct {
	Group    string   `json:"group"`
	Versions []string `json:"versions"`
	Resource string   `json:"resource"`
	Kind     string   `json:"kind"`
}

func declarations() []declaration {
	rs := rules(cluster.Reader{}, settings{})
	var out []declaration
	for _, r := range rs.All() {
		m := r.Match()
		d := declaration{ID: r.ID(), Type: "mutating", MeshOnly: m.MeshOnly}
		if _, ok := r.(policy.Validator); ok {
			d.Type = "validating"
		}
		for _, k := range m.Kinds {
			d.Kinds = append(d.Kinds, declarationKind{Group: k.Group, Versions: k.Versions, Resource: k.Resource, Kind: k.Kind})
		}
		for _, op := range m.Operations {
			d.Operations = append(d.Operations, string(op))
		}
		out = append(out, d)
	}
	return out
}

// listRules is `webhook rules`: every rule's declaration, as a table or JSON.
func listRules(prog string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("o", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, as(prog, "usage: webhook rules [-o text|json]\n\nLists each rule with the objects and operations it reviews; mesh-only rules act only in mesh-enabled namespaces.\n\nFlags:"))
		printFlags(stderr, fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rules takes no arguments, got %q\n", fs.Args())
		return 2
	}
	switch *output {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(declarations()); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	case "text":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "RULE\tTYPE\tKIND\tVERSIONS\tOPERATIONS\tNAMESPACES")
		for _, d := range declarations() {
			scope := "all"
			if d.MeshOnly {
				scope = "mesh-enabled"
			}
			for i, k := range d.Kinds {
				id, typ, ops, sc := d.ID, d.Type, strings.Join(d.Operations, ","), scope
				if i > 0 {
					id, typ, ops, sc = "", "", "", ""
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", id, typ, strings.TrimPrefix(k.Group+"/"+k.Kind, "/"),
					strings.Join(k.Versions, ","), ops, sc)
			}
		}
		if err := w.Flush(); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	default:
		fmt.Fprintf(stderr, "unknown output %q: text or json\n", *output)
		return 2
	}
	return 0
}

// istioFlags are the flags that repeat the mesh's own configuration (which
// Ingresses istiod serves, its root namespace); serve and check share them.
type istioFlags struct{ class, mode, root string }

func addIstioFlags(fs *flag.FlagSet) *istioFlags {
	f := &istioFlags{}
	fs.StringVar(&f.root, "istio-root-namespace", mesh.DefaultRootNamespace, "Istio's meshConfig.rootNamespace, where a PeerAuthentication without a selector applies mesh-wide")
	fs.StringVar(&f.class, "istio-ingress-class", validate.IstioIngressClass, "Istio's meshConfig.ingressClass: the kubernetes.io/ingress.class value istiod serves")
	fs.StringVar(&f.mode, "istio-ingress-controller-mode", validate.IngressModeStrict, "Istio's meshConfig.ingressControllerMode: STRICT (Ingresses of its class), DEFAULT (also those without a class) or OFF (none by annotation)")
	return f
}

// ingress returns the flags' values, checked.
func (f *istioFlags) ingress() (validate.IstioIngress, error) {
	mode := strings.ToUpper(strings.TrimSpace(f.mode))
	switch mode {
	case validate.IngressModeStrict, validate.IngressModeDefault, validate.IngressModeOff:
	default:
		return validate.IstioIngress{}, fmt.Errorf("--istio-ingress-controller-mode %q: use STRICT, DEFAULT or OFF", f.mode)
	}
	if strings.TrimSpace(f.class) == "" {
		return validate.IstioIngress{}, errors.New("--istio-ingress-class must not be empty")
	}
	return validate.IstioIngress{Class: f.class, Mode: mode}, nil
}
