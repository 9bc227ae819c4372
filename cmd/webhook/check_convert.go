package main

import (
	"fmt"
	"io"

	offline "github.com/meshguard/meshguard/pkg/check"
	"github.com/meshguard/meshguard/pkg/convert"
	"github.com/meshguard/meshguard/pkg/validate"
)

// writeReplacements prints, for `check --convert`, the objects that replace
// the Ingresses the check denied (YAML on out, the conversion's report on
// rep). The input's Services and IngressClasses help as they do for
// `webhook convert`.
func writeReplacements(report *offline.Report, format string, out, rep io.Writer) error {
	in := &convert.Input{}
	for _, file := range report.Files {
		for _, o := range file.Objects {
			if o.Kind != "Ingress" && o.Kind != "Service" && o.Kind != "IngressClass" {
				continue
			}
			if o.Kind == "Ingress" && !deniedIngress(o) {
				continue
			}
			n := len(in.Ingresses) + len(in.Services)
			if err := in.Add(o.APIVersion, o.Kind, o.JSON()); err != nil {
				return &convert.DocError{File: o.File, DocumentIndex: o.DocumentIndex, Item: o.Item, Line: o.Line, Err: err}
			}
			if len(in.Ingresses)+len(in.Services) > n && o.Namespace != "" {
				setNamespace(in, o.Kind, o.Namespace)
			}
		}
	}
	if len(in.Ingresses) == 0 {
		_, err := fmt.Fprintln(rep, "webhook check: --convert: no Ingress is denied, nothing to convert")
		return err
	}
	res := convert.Convert(in, convert.Options{})
	if err := res.WriteYAML(out); err != nil {
		return err
	}
	return res.Report.Write(rep, format)
}

// deniedIngress reports an Ingress ingress-in-mesh denies.
func deniedIngress(o *offline.Object) bool {
	for _, f := range o.Findings {
		if f.Rule == (validate.IngressInMesh{}).ID() && f.Severity == offline.Deny {
			return true
		}
	}
	return false
}

// setNamespace gives the object just read the namespace check put it in,
// when its manifest names none.
func setNamespace(in *convert.Input, kind, ns string) {
	switch kind {
	case "Ingress":
		if i := in.Ingresses[len(in.Ingresses)-1]; i.Namespace == "" {
			i.Namespace = ns
		}
	case "Service":
		if s := in.Services[len(in.Services)-1]; s.Namespace == "" {
			s.Namespace = ns
		}
	}
}
