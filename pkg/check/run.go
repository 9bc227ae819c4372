package check

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshguard/meshguard/pkg/admit"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/policy"
)

// RuleSet builds the validating and mutating rules on top of a cluster
// reader; cmd/webhook passes the server's own rule list.
type RuleSet = admit.RuleSet

// Options configure Run.
type Options struct {
	// Rules is required: the server's rule list, built on the offline cluster.
	Rules RuleSet
	// Off lists the rules not to evaluate (--rule-mode RULE=off); every other
	// rule runs as in enforce mode.
	Off []string
	// AllowExemptions honours meshguard.dev/exempt annotations that carry a
	// reason, as the server does unless told otherwise.
	AllowExemptions bool
	// DefaultNamespace is the namespace of namespaced objects that name none
	// ("default" when empty), like kubectl's --namespace.
	DefaultNamespace string
	// Namespaces holds namespace labels given on the command line; they win
	// over the Namespace objects of the input.
	Namespaces map[string]map[string]string
	// Fix writes the mutating rules' changes into File.Fixed.
	Fix bool
	// Workers bounds parallel reviews (GOMAXPROCS when 0).
	Workers int
}

// Run reviews every object of the files as the server would review its
// CREATE: the mutating rules first, then the validating rules on the mutated
// object. Findings, errors and fixed text land in the files, so run it once
// per set of parsed files.
func Run(ctx context.Context, files []*File, o Options) *Report {
	if o.DefaultNamespace == "" {
		o.DefaultNamespace = "default"
	}
	r := newRunner(offlineCluster(files, o.Namespaces), o)

	var objects []*Object
	for _, f := range files {
		for _, obj := range f.Objects {
			obj.Namespace = r.namespace(obj)
			objects = append(objects, obj)
		}
	}
	errs := make([]error, len(objects))
	parallel(len(objects), o.Workers, func(i int) { errs[i] = r.review(ctx, objects[i]) })

	for i, err := range errs {
		if err != nil {
			obj := objects[i]
			obj.file.Errors = append(obj.file.Errors, &DocError{File: obj.File, DocumentIndex: obj.DocumentIndex, Item: obj.Item, Line: obj.Line, Err: err})
		}
	}
	if o.Fix {
		for _, f := range files {
			fixFile(f)
		}
	}
	return &Report{Files: files}
}

// newRunner builds the rules of o on c, each run with its ID at hand for
// the misses of the offline reader.
func newRunner(c cluster.Reader, o Options) *runner {
	return &runner{opts: o, reviewer: admit.NewReviewer(c, admit.Options{Rules: asking(o.Rules), Off: o.Off, AllowExemptions: o.AllowExemptions})}
}

// parallel calls fn for 0..n-1 on up to workers goroutines (GOMAXPROCS when 0).
func parallel(n, workers int, fn func(i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if n < 2 || workers == 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		})
	}
	wg.Wait()
}

type runner struct {
	opts     Options
	reviewer *admit.Reviewer
}

// review runs the rules on one object and turns their verdicts into
// findings; an error means a rule could not decide.
func (r *runner) review(ctx context.Context, o *Object) error {
	asked := &lookups{}
	ctx = withLookups(ctx, asked)
	apiVersion, raw := o.APIVersion, o.raw
	if v1, ok, err := retired(o); ok {
		if err != nil {
			return err
		}
		apiVersion, raw = "networking.k8s.io/v1", v1
	}
	res, err := r.reviewer.Review(ctx, admit.Object{
		APIVersion: apiVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
		UID: types.UID(fmt.Sprintf("check-%d-%d", o.DocumentIndex, o.Item)), Raw: raw,
	})
	if res == nil {
		return err
	}
	o.patch = res.Changes
	for _, f := range res.Findings() {
		o.add(f.Rule, severity(f.Severity), f.Message)
	}
	for _, m := range asked.misses {
		switch m.kind {
		case "Namespace":
			o.add(UnknownNamespaceRule, Deny, fmt.Sprintf(
				"namespace %q is unknown: pass --mesh-namespace or --namespace-labels, or include the Namespace in the input; %s needs its labels to decide whether the namespace is in the mesh", m.name, m.rule))
		case "IngressClass":
			o.add(UnknownIngressClassRule, Warn, fmt.Sprintf(
				"IngressClass %q is not in the input, so %s took it as missing (a class that does not exist is not served by Istio); include the IngressClass if the cluster has one", m.name, m.rule))
		}
	}
	if asked.missed("Namespace") {
		// The rule stopped at the namespace it could not read; that is the finding.
		return nil
	}
	return err
}

// severity names a policy severity as check reports it; admit.Findings
// holds no other.
func severity(s policy.Severity) Severity {
	switch s {
	case policy.Violation:
		return Deny
	case policy.Change:
		return Change
	}
	return Warn
}

func (o *Object) add(rule string, sev Severity, msg string) {
	o.Findings = append(o.Findings, Finding{File: o.File, Line: o.Line, DocumentIndex: o.DocumentIndex,
		Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Rule: rule, Severity: sev, Message: msg, Source: o.Source})
}

// namespace is where the object would be created: its own namespace, else the
// default one; cluster-scoped kinds have none. Run sets Object.Namespace to it.
func (r *runner) namespace(o *Object) string {
	gv, _ := schema.ParseGroupVersion(o.APIVersion)
	if clusterScoped(gv.Group, o.Kind) {
		return ""
	}
	if o.Namespace != "" {
		return o.Namespace
	}
	return r.opts.DefaultNamespace
}
