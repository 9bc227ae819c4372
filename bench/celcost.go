package bench

import (
	"context"
	"errors"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sadmission "k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
)

// Cost is what one admission of one object costs an admission policy in the
// API server's CEL cost units, each part against the budget the API server
// gives it.
type Cost struct {
	// Match is the matchConditions' cost; the API server stops them at
	// celconfig.RuntimeCELCostBudgetMatchConditions.
	Match int64
	// Eval is everything else: variables, validations and their messages,
	// or the JSONPatch of a mutation; stopped at celconfig.RuntimeCELCostBudget
	// per binding (and each expression at celconfig.PerCallLimit).
	Eval int64
	// Err is the evaluation error the API server would meet (for example
	// its budget running out); the costs are then what was spent until it.
	Err error
}

// Admission is one request to a policy: the object (and the old one on an
// UPDATE), its namespace and the policy's parameter object, if any.
type Admission struct {
	Object, OldObject *unstructured.Unstructured
	Namespace         *corev1.Namespace
	Params            runtime.Object
	Resource          schema.GroupVersionResource
	Operation         k8sadmission.Operation
}

// allowAll answers CEL's authorizer as a cluster admin's would.
type allowAll struct{}

func (allowAll) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionAllow, "", nil
}

// policyCompiler compiles a policy's variables and expressions the way the
// API server's policy plugins do (validating.compilePolicy,
// mutating.compilePolicy): one composited compiler for the policy, the
// variables stored in it, StoredExpressions.
func policyCompiler(vars []admissionregistrationv1.Variable, params bool) (*cel.CompositedCompiler, cel.OptionalVariableDeclarations, error) {
	opts := cel.OptionalVariableDeclarations{HasParams: params, HasAuthorizer: true}
	c, err := cel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		return nil, opts, err
	}
	for _, v := range vars {
		if r := c.CompileAndStoreVariable(&validating.Variable{Name: v.Name, Expression: v.Expression}, opts, environment.StoredExpressions); r.Error != nil {
			return nil, opts, fmt.Errorf("variable %s: %w", v.Name, r.Error)
		}
	}
	return c, opts, nil
}

func (a Admission) attributes() (*k8sadmission.VersionedAttributes, *cel.OptionalVariableBindings) {
	gvk := a.Object.GroupVersionKind()
	var old runtime.Object
	var lazyOld k8sadmission.LazyObject
	if a.OldObject != nil {
		old, lazyOld = a.OldObject, k8sadmission.NewLazyObject(a.OldObject)
	}
	op := a.Operation
	if op == "" {
		op = k8sadmission.Create
	}
	attr := k8sadmission.NewAttributesRecord(a.Object, old, gvk, a.Object.GetNamespace(), a.Object.GetName(), a.Resource, "",
		op, nil, false, &user.DefaultInfo{Name: "developer", Groups: []string{"system:authenticated"}})
	return &k8sadmission.VersionedAttributes{Attributes: attr, VersionedObject: k8sadmission.NewLazyObject(a.Object), VersionedOldObject: lazyOld, VersionedKind: gvk},
		&cel.OptionalVariableBindings{VersionedParams: a.Params, Authorizer: allowAll{}}
}

// matchCost evaluates matchConditions as the API server's matcher does and
// reports whether they all hold.
func matchCost(ctx context.Context, c *cel.CompositedCompiler, opts cel.OptionalVariableDeclarations, conds []admissionregistrationv1.MatchCondition, a Admission) (int64, bool, error) {
	if len(conds) == 0 {
		return 0, true, nil
	}
	acc := make([]cel.ExpressionAccessor, len(conds))
	for i := range conds {
		acc[i] = (*matchconditions.MatchCondition)(&conds[i])
	}
	va, vars := a.attributes()
	req := cel.CreateAdmissionRequest(va.Attributes, metav1.GroupVersionResource(a.Resource), metav1.GroupVersionKind(va.VersionedKind))
	res, left, err := c.CompileCondition(acc, opts, environment.StoredExpressions).ForInput(ctx, va, req, *vars, nil, celconfig.RuntimeCELCostBudgetMatchConditions)
	spent := celconfig.RuntimeCELCostBudgetMatchConditions - left
	if err != nil {
		return spent, false, err
	}
	for _, r := range res {
		if r.Error != nil {
			return spent, false, r.Error
		}
		if r.EvalResult != nil && r.EvalResult.Value() != true {
			return spent, false, nil
		}
	}
	return spent, true, nil
}

// matchPolicy compiles a policy's variables and evaluates its
// matchConditions on a: matched says whether the rest of the policy runs;
// cost holds what the conditions spent (and their error, if any).
func matchPolicy(ctx context.Context, vars []admissionregistrationv1.Variable, params bool, conds []admissionregistrationv1.MatchCondition, a Admission) (*cel.CompositedCompiler, cel.OptionalVariableDeclarations, Cost, bool, error) {
	c, opts, err := policyCompiler(vars, params)
	if err != nil {
		return nil, opts, Cost{}, false, err
	}
	match, ok, err := matchCost(ctx, c, opts, conds, a)
	return c, opts, Cost{Match: match, Err: err}, ok && err == nil, nil
}

// ValidatingPolicyCost is what admitting a costs the API server under p:
// matchConditions, then the validations and, for those that fail, their
// messageExpressions, each stage with the budget the stage before left
// (validating.validator.Validate).
func ValidatingPolicyCost(ctx context.Context, p *admissionregistrationv1.ValidatingAdmissionPolicy, a Admission) (Cost, error) {
	c, opts, cost, matched, err := matchPolicy(ctx, p.Spec.Variables, p.Spec.ParamKind != nil, p.Spec.MatchConditions, a)
	if err != nil || !matched {
		return cost, err
	}
	validations := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	messages := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		validations[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		messages[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
	}
	va, vars := a.attributes()
	req := cel.CreateAdmissionRequest(va.Attributes, metav1.GroupVersionResource(a.Resource), metav1.GroupVersionKind(va.VersionedKind))
	res, left, err := c.CompileCondition(validations, opts, environment.StoredExpressions).ForInput(ctx, va, req, *vars, a.Namespace, celconfig.RuntimeCELCostBudget)
	cost.Eval = celconfig.RuntimeCELCostBudget - left
	if err != nil {
		cost.Err = err
		return cost, nil
	}
	failed := false
	for i, r := range res {
		switch {
		case r.Error != nil:
			cost.Err = errors.Join(cost.Err, fmt.Errorf("validation %d: %w", i, r.Error))
		case r.EvalResult != nil && r.EvalResult.Value() != true:
			failed = true
		}
	}
	if failed {
		_, rest, err := c.CompileCondition(messages, opts, environment.StoredExpressions).ForInput(ctx, va, req, *vars, a.Namespace, left)
		cost.Eval = celconfig.RuntimeCELCostBudget - rest
		cost.Err = errors.Join(cost.Err, err)
	}
	return cost, nil
}

// MutatingPolicyCost is what admitting a costs the API server under p:
// matchConditions, then each JSONPatch mutation with the budget the one
// before left (mutating dispatcher, patch.jsonPatcher).
func MutatingPolicyCost(ctx context.Context, p *admissionregistrationv1.MutatingAdmissionPolicy, a Admission) (Cost, error) {
	c, opts, cost, matched, err := matchPolicy(ctx, p.Spec.Variables, p.Spec.ParamKind != nil, p.Spec.MatchConditions, a)
	if err != nil || !matched {
		return cost, err
	}
	patchOpts := opts
	patchOpts.HasPatchTypes = true
	left := int64(celconfig.RuntimeCELCostBudget)
	for i, m := range p.Spec.Mutations {
		if m.PatchType != admissionregistrationv1.PatchTypeJSONPatch || m.JSONPatch == nil {
			return cost, fmt.Errorf("mutation %d: only JSONPatch mutations are measured", i)
		}
		ev := c.CompileMutatingEvaluator(&patch.JSONPatchCondition{Expression: m.JSONPatch.Expression}, patchOpts, environment.StoredExpressions)
		if errs := ev.CompilationErrors(); len(errs) > 0 {
			return cost, fmt.Errorf("mutation %d: %w", i, errors.Join(errs...))
		}
		va, vars := a.attributes()
		req := cel.CreateAdmissionRequest(va.Attributes, metav1.GroupVersionResource(a.Resource), metav1.GroupVersionKind(va.VersionedKind))
		// The dispatcher gives each policy one composition context.
		res, rest, err := ev.ForInput(c.CreateContext(ctx), va, req, *vars, a.Namespace, left)
		left = rest
		if err == nil {
			err = res.Error
		}
		if err != nil {
			cost.Err = fmt.Errorf("mutation %d: %w", i, err)
			break
		}
	}
	cost.Eval = celconfig.RuntimeCELCostBudget - left
	return cost, nil
}
