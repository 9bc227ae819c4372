// Package admit reviews one object as the API server admits its CREATE: mutating rules, their patch, validating rules.
package admit

import (
	"context"
	"fmt"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
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
type RuleSet func(c cluster.Reader) policy.Rules

// Options configure a Reviewer.
type Options struct {
	// Rules is required: the server's rule list.
	Rules RuleSet
	// Off lists the rules not to evaluate; every other rule runs as in
	// enforce mode, which is what the reviews report on.
	Off []string
	// AllowExemptions honours meshguard.dev/exempt annotations that carry
	// a reason, as the server does unless told otherwise.
	AllowExemptions bool
}

// Reviewer reviews single objects through two engines, mutating and
// validating, so `webhook check` and the background audit reach the
// webhook's own verdicts. It holds no per-object state, so reviews may run
// in parallel.
type Reviewer struct {
	validating, mutating *policy.Engine
}

// NewReviewer builds the rules of o on c.
func NewReviewer(c cluster.Reader, o Options) *Reviewer {
	rules := o.Rules(c)
	modes := policy.Modes{Default: policy.Enforce, PerRule: map[string]policy.Mode{}}
	for _, id := range o.Off {
		modes.PerRule[id] = policy.Off
	}
	engine := func(rules policy.Rules) *policy.Engine {
		// No limits: a review reports every finding; no metrics: a review
		// is no admission decision.
		return policy.NewEngine(policy.Config{Rules: rules, Modes: modes, AllowExemptions: o.AllowExemptions, Log: logr.Discard(), Limits: &policy.Limits{}})
	}
	return &Reviewer{validating: engine(policy.Rules{Validating: rules.Validating}), mutating: engine(policy.Rules{Mutating: rules.Mutating})}
}

// Object is one object to review: its JSON with its apiVersion and kind.
type Object struct {
	APIVersion, Kind string
	// Namespace is where the object is created; empty for cluster-scoped kinds.
	Namespace, Name string
	// UID names the review in the rules' requests.
	UID types.UID
	Raw []byte
}

// Result is what the two engines decided on one object.
type Result struct {
	// Mutating and Validating are the engines' verdicts; nil when that
	// engine could not decide.
	Mutating, Validating *policy.Verdict
	// Changes are the mutating rules' patch operations the validating rules
	// saw applied, without the meshguard.dev/mutated annotation the webhook
	// adds: they are the changes to make in a source manifest.
	Changes []jsonpatch.Operation
}

// Review runs the mutating rules on the object's CREATE, applies their
// patch, and runs the validating rules on the result. The Result holds what
// each engine decided even when err, the first engine's failure, is not
// nil; it is nil only when the mutating rules' patch does not apply, so
// nothing was reviewed.
func (v *Reviewer) Review(ctx context.Context, o Object) (*Result, error) {
	res := &Result{}
	raw := o.Raw
	req := o.request(raw)
	mut, mutErr := v.mutating.Decide(ctx, req)
	if mutErr == nil {
		var patch []byte
		if patch, mutErr = mut.Patch(req); mutErr == nil {
			res.Mutating = mut
		}
		if len(patch) > 0 {
			mutated, err := apply(raw, patch)
			if err != nil {
				return nil, fmt.Errorf("the mutating rules' patch does not apply: %v", err)
			}
			raw, res.Changes = mutated, mut.Changes()
		}
	}
	val, valErr := v.validating.Decide(ctx, o.request(raw))
	if valErr == nil {
		res.Validating = val
	}
	if mutErr != nil {
		return res, mutErr
	}
	return res, valErr
}

// apply applies the patch as the API server does before the validating
// webhooks run.
func apply(raw, patch []byte) ([]byte, error) {
	p, err := jsonpatch5.DecodePatch(patch)
	if err != nil {
		return nil, err
	}
	return p.Apply(raw)
}

// request builds the CREATE the API server would send. It is marked
// dry-run: nothing is stored, and rules must not count or act on it.
func (o Object) request(raw []byte) *policy.Request {
	gv, _ := schema.ParseGroupVersion(o.APIVersion)
	dry := true
	return policy.NewRequest(&admissionv1.AdmissionRequest{
		UID:       o.UID,
		Kind:      metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: o.Kind},
		Resource:  metav1.GroupVersionResource{Group: gv.Group, Version: gv.Version},
		Name:      o.Name,
		Namespace: o.Namespace,
		Operation: admissionv1.Create,
		DryRun:    &dry,
		Object:    kruntime.RawExtension{Raw: raw},
	})
}
