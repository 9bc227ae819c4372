package check

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/policy"
)

// RuleSet builds the validating and mutating rules on top of a cluster
// reader; cmd/webhook passes the server's own rule list.
type RuleSet func(c cluster.Reader) (validating, mutating []policy.Rule)

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

// newRunner builds the rules of o on c and wraps them in the two engines,
// mutating and validating, every review goes through.
func newRunner(c cluster.Reader, o Options) *runner {
	r := &runner{opts: o}
	validating, mutating := o.Rules(c)
	modes := policy.Modes{Default: policy.Enforce, PerRule: map[string]policy.Mode{}}
	for _, id := range o.Off {
		modes.PerRule[id] = policy.Off
	}
	engine := func(rules []policy.Rule) *policy.Engine {
		wrapped := make([]policy.Rule, len(rules))
		for i, rule := range rules {
			wrapped[i] = recordingRule{rule}
		}
		return policy.NewEngine(policy.Config{Rules: wrapped, Modes: modes, AllowExemptions: o.AllowExemptions, Log: logr.Discard(), Limits: &policy.Limits{}})
	}
	r.validating, r.mutating = engine(validating), engine(mutating)
	return r
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
	opts                 Options
	validating, mutating *policy.Engine
}

// recordingRule hands what a rule finds to the object's recorder as well as
// to the engine, which still decides everything (modes, exemptions).
type recordingRule struct{ policy.Rule }

// Check implements policy.Rule.
func (r recordingRule) Check(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	f, err := r.Rule.Check(context.WithValue(ctx, ruleKey{}, r.ID()), req)
	if rec := recorderFrom(ctx); rec != nil {
		rec.add(r.ID(), f)
	}
	return f, err
}

// review runs both engines on one object and turns what the rules said into
// findings; an error means a rule could not decide.
func (r *runner) review(ctx context.Context, o *Object) error {
	rec := &recorder{}
	ctx = withRecorder(ctx, rec)
	raw := o.raw
	var said strings.Builder // everything the engines answered, to match findings against
	resp, mutErr := r.mutating.Review(ctx, r.request(o, raw))
	if mutErr == nil {
		record(&said, resp)
		if len(resp.Patch) > 0 {
			mutated, ops, err := applyAll(raw, resp.Patch)
			if err != nil {
				return fmt.Errorf("the mutating rules' patch does not apply: %v", err)
			}
			raw, o.patch = mutated, withoutMutatedAnnotation(ops)
		}
	}
	resp, valErr := r.validating.Review(ctx, r.request(o, raw))
	if valErr == nil {
		record(&said, resp)
	}
	answer := said.String()
	for _, rf := range rec.findings {
		sev, ok := severity(rf.finding.Severity)
		// The engine, not the rule, has the last word: a finding it did not
		// pass on (an exempted rule's) is not reported.
		if !ok || !strings.Contains(answer, "["+rf.rule+"] "+rf.finding.Message) {
			continue
		}
		msg := rf.finding.Message
		if sev == Deny {
			msg += exemptNote(answer, rf.rule, msg)
		}
		o.add(rf.rule, sev, msg)
	}
	for _, m := range rec.misses {
		switch m.kind {
		case "Namespace":
			o.add(UnknownNamespaceRule, Deny, fmt.Sprintf(
				"namespace %q is unknown: pass --mesh-namespace or --namespace-labels, or include the Namespace in the input; %s needs its labels to decide whether the namespace is in the mesh", m.name, m.rule))
		case "IngressClass":
			o.add(UnknownIngressClassRule, Warn, fmt.Sprintf(
				"IngressClass %q is not in the input, so %s took it as missing (a class that does not exist is not served by Istio); include the IngressClass if the cluster has one", m.name, m.rule))
		}
	}
	if rec.missed("Namespace") {
		// The rule stopped at the namespace it could not read; that is the finding.
		return nil
	}
	if mutErr != nil {
		return mutErr
	}
	return valErr
}

// record keeps the denial and warnings of one engine's answer.
func record(b *strings.Builder, resp *admissionv1.AdmissionResponse) {
	if resp.Result != nil {
		b.WriteString(resp.Result.Message + "; ")
	}
	for _, w := range resp.Warnings {
		b.WriteString(w + "; ")
	}
}

func severity(s policy.Severity) (Severity, bool) {
	switch s {
	case policy.Violation:
		return Deny, true
	case policy.Advice:
		return Warn, true
	case policy.Change:
		return Change, true
	}
	return "", false
}

func (o *Object) add(rule string, sev Severity, msg string) {
	o.Findings = append(o.Findings, Finding{File: o.File, Line: o.Line, DocumentIndex: o.DocumentIndex,
		Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Rule: rule, Severity: sev, Message: msg, Source: o.Source})
}

// request builds the CREATE the API server would send. It is marked dry-run:
// nothing is stored, and rules must not count or act on it.
func (r *runner) request(o *Object, raw []byte) *policy.Request {
	gv, _ := schema.ParseGroupVersion(o.APIVersion)
	dry := true
	return policy.NewRequest(&admissionv1.AdmissionRequest{
		UID:       types.UID(fmt.Sprintf("check-%d-%d", o.DocumentIndex, o.Item)),
		Kind:      metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: o.Kind},
		Resource:  metav1.GroupVersionResource{Group: gv.Group, Version: gv.Version},
		Name:      o.Name,
		Namespace: o.Namespace,
		Operation: admissionv1.Create,
		DryRun:    &dry,
		Object:    kruntime.RawExtension{Raw: raw},
	})
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
