package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"

	admissionv1 "k8s.io/api/admission/v1"
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
	"k8s.io/client-go/kubernetes/scheme"
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
	// builtIn holds Object, OldObject and Params as the API server holds
	// them for a built-in kind (BuiltIn); nil for a custom resource's.
	builtIn *builtIn
}

type builtIn struct{ object, oldObject, params runtime.Object }

// BuiltIn returns a with the objects as the API server holds a built-in
// kind: the typed Go struct of its kind (Object must be one the client-go
// scheme knows), and a typed parameter object without its TypeMeta, as an
// informer returns it, wrapped as the validating dispatcher wraps it (so
// that it is converted to unstructured on every evaluation). Without it
// the objects are unstructured, as for a custom resource. The conversion
// is done here, once: the API server decodes the request before admission.
func (a Admission) BuiltIn() Admission {
	b := &builtIn{object: typed(a.Object)}
	if a.OldObject != nil {
		b.oldObject = typed(a.OldObject)
	}
	if a.Params != nil {
		b.params = wrapParam(a.Params)
	}
	a.builtIn = b
	return a
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

// attributes are what the API server hands a policy's evaluators for a:
// the versioned attributes, the admission request and the optional bindings.
func (a Admission) attributes() (*k8sadmission.VersionedAttributes, *admissionv1.AdmissionRequest, *cel.OptionalVariableBindings) {
	gvk := a.Object.GroupVersionKind()
	var obj, old runtime.Object = a.Object, nil
	var lazyOld k8sadmission.LazyObject
	if a.OldObject != nil {
		old = a.OldObject
	}
	params := a.Params
	if b := a.builtIn; b != nil {
		obj, old, params = b.object, b.oldObject, b.params
	}
	if old != nil {
		lazyOld = k8sadmission.NewLazyObject(old)
	}
	op := a.Operation
	if op == "" {
		op = k8sadmission.Create
	}
	attr := k8sadmission.NewAttributesRecord(obj, old, gvk, a.Object.GetNamespace(), a.Object.GetName(), a.Resource, "",
		op, nil, false, &user.DefaultInfo{Name: "developer", Groups: []string{"system:authenticated"}})
	va := &k8sadmission.VersionedAttributes{Attributes: attr, VersionedObject: k8sadmission.NewLazyObject(obj), VersionedOldObject: lazyOld, VersionedKind: gvk}
	req := cel.CreateAdmissionRequest(attr, metav1.GroupVersionResource(a.Resource), metav1.GroupVersionKind(gvk))
	return va, req, &cel.OptionalVariableBindings{VersionedParams: params, Authorizer: allowAll{}}
}

// typed is u as the typed struct of its kind in client-go's scheme.
func typed(u *unstructured.Unstructured) runtime.Object {
	out, err := scheme.Scheme.New(u.GroupVersionKind())
	if err == nil {
		err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
	}
	if err != nil {
		panic(fmt.Sprintf("%s is not a built-in kind: %v", u.GroupVersionKind(), err))
	}
	return out
}

// wrapParam is what the validating dispatcher hands CEL for a typed
// parameter object from its informer, whose TypeMeta is empty: a wrapper
// that adds the TypeMeta and converts the object to unstructured each time
// an evaluation starts (validating.wrappedParam).
func wrapParam(p runtime.Object) runtime.Object {
	gvk := p.GetObjectKind().GroupVersionKind()
	p = p.DeepCopyObject()
	p.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return &wrappedParam{TypeMeta: metav1.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}, nested: p}
}

// wrappedParam is validating.wrappedParam, which is not exported.
type wrappedParam struct {
	metav1.TypeMeta
	nested runtime.Object
}

func (w *wrappedParam) ToUnstructured() any {
	res, err := runtime.DefaultUnstructuredConverter.ToUnstructured(w.nested)
	if err != nil {
		return nil
	}
	meta, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&w.TypeMeta)
	if err != nil {
		return nil
	}
	maps.Copy(res, meta)
	return res
}

func (w *wrappedParam) DeepCopyObject() runtime.Object {
	return &wrappedParam{TypeMeta: w.TypeMeta, nested: w.nested.DeepCopyObject()}
}

// compiledPolicy is one admission policy compiled once, as the API server
// compiles it when the policy is created (validating.compilePolicy,
// mutating.compilePolicy), so that its evaluation can be measured alone.
type compiledPolicy struct {
	c     *cel.CompositedCompiler
	opts  cel.OptionalVariableDeclarations
	match cel.ConditionEvaluator // nil without matchConditions
}

func compilePolicy(vars []admissionregistrationv1.Variable, params bool, conds []admissionregistrationv1.MatchCondition) (compiledPolicy, error) {
	c, opts, err := policyCompiler(vars, params)
	if err != nil {
		return compiledPolicy{}, err
	}
	p := compiledPolicy{c: c, opts: opts}
	if len(conds) > 0 {
		acc := make([]cel.ExpressionAccessor, len(conds))
		for i := range conds {
			acc[i] = (*matchconditions.MatchCondition)(&conds[i])
		}
		p.match = c.CompileCondition(acc, opts, environment.StoredExpressions)
	}
	return p, nil
}

// matches evaluates the matchConditions as the API server's matcher does:
// matched says whether the rest of the policy runs; the cost holds what the
// conditions spent (and their error, if any).
func (p compiledPolicy) matches(ctx context.Context, a Admission) (Cost, bool) {
	if p.match == nil {
		return Cost{}, true
	}
	va, req, vars := a.attributes()
	res, left, err := p.match.ForInput(ctx, va, req, *vars, nil, celconfig.RuntimeCELCostBudgetMatchConditions)
	cost := Cost{Match: celconfig.RuntimeCELCostBudgetMatchConditions - left, Err: err}
	if err != nil {
		return cost, false
	}
	for _, r := range res {
		if r.Error != nil {
			cost.Err = r.Error
			return cost, false
		}
		if r.EvalResult != nil && r.EvalResult.Value() != true {
			return cost, false
		}
	}
	return cost, true
}

// ValidatingPolicy is a ValidatingAdmissionPolicy compiled once.
type ValidatingPolicy struct {
	compiledPolicy
	validations, messages cel.ConditionEvaluator
}

// CompileValidatingPolicy compiles p as the API server does.
func CompileValidatingPolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy) (*ValidatingPolicy, error) {
	base, err := compilePolicy(p.Spec.Variables, p.Spec.ParamKind != nil, p.Spec.MatchConditions)
	if err != nil {
		return nil, err
	}
	validations := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	messages := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		validations[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		messages[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
	}
	return &ValidatingPolicy{
		compiledPolicy: base,
		validations:    base.c.CompileCondition(validations, base.opts, environment.StoredExpressions),
		messages:       base.c.CompileCondition(messages, base.opts, environment.StoredExpressions),
	}, nil
}

// Cost is what admitting a costs the API server under the policy:
// matchConditions, then the validations and, for those that fail, their
// messageExpressions, each stage with the budget the stage before left
// (validating.validator.Validate).
func (p *ValidatingPolicy) Cost(ctx context.Context, a Admission) Cost {
	cost, matched := p.matches(ctx, a)
	if !matched {
		return cost
	}
	va, req, vars := a.attributes()
	res, left, err := p.validations.ForInput(ctx, va, req, *vars, a.Namespace, celconfig.RuntimeCELCostBudget)
	cost.Eval = celconfig.RuntimeCELCostBudget - left
	if err != nil {
		cost.Err = err
		return cost
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
		_, rest, err := p.messages.ForInput(ctx, va, req, *vars, a.Namespace, left)
		cost.Eval = celconfig.RuntimeCELCostBudget - rest
		cost.Err = errors.Join(cost.Err, err)
	}
	return cost
}

// ValidatingPolicyCost compiles p and measures admitting a under it.
func ValidatingPolicyCost(ctx context.Context, p *admissionregistrationv1.ValidatingAdmissionPolicy, a Admission) (Cost, error) {
	v, err := CompileValidatingPolicy(p)
	if err != nil {
		return Cost{}, err
	}
	return v.Cost(ctx, a), nil
}

// MutatingPolicy is a MutatingAdmissionPolicy (JSONPatch mutations only)
// compiled once.
type MutatingPolicy struct {
	compiledPolicy
	patches []cel.MutatingEvaluator
}

// CompileMutatingPolicy compiles p as the API server does.
func CompileMutatingPolicy(p *admissionregistrationv1.MutatingAdmissionPolicy) (*MutatingPolicy, error) {
	base, err := compilePolicy(p.Spec.Variables, p.Spec.ParamKind != nil, p.Spec.MatchConditions)
	if err != nil {
		return nil, err
	}
	patchOpts := base.opts
	patchOpts.HasPatchTypes = true
	m := &MutatingPolicy{compiledPolicy: base}
	for i, mu := range p.Spec.Mutations {
		if mu.PatchType != admissionregistrationv1.PatchTypeJSONPatch || mu.JSONPatch == nil {
			return nil, fmt.Errorf("mutation %d: only JSONPatch mutations are measured", i)
		}
		ev := base.c.CompileMutatingEvaluator(&patch.JSONPatchCondition{Expression: mu.JSONPatch.Expression}, patchOpts, environment.StoredExpressions)
		if errs := ev.CompilationErrors(); len(errs) > 0 {
			return nil, fmt.Errorf("mutation %d: %w", i, errors.Join(errs...))
		}
		m.patches = append(m.patches, ev)
	}
	return m, nil
}

// Cost is what admitting a costs the API server under the policy:
// matchConditions, then each JSONPatch mutation with the budget the one
// before left (mutating dispatcher, patch.jsonPatcher).
func (m *MutatingPolicy) Cost(ctx context.Context, a Admission) Cost {
	cost, matched := m.matches(ctx, a)
	if !matched {
		return cost
	}
	ctx = m.c.CreateContext(ctx) // the dispatcher gives each policy one composition context
	left := int64(celconfig.RuntimeCELCostBudget)
	va, req, vars := a.attributes()
	for i, ev := range m.patches {
		res, rest, err := ev.ForInput(ctx, va, req, *vars, a.Namespace, left)
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
	return cost
}

// MutatingPolicyCost compiles p and measures admitting a under it.
func MutatingPolicyCost(ctx context.Context, p *admissionregistrationv1.MutatingAdmissionPolicy, a Admission) (Cost, error) {
	m, err := CompileMutatingPolicy(p)
	if err != nil {
		return Cost{}, err
	}
	return m.Cost(ctx, a), nil
}
