package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sadmission "k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
)

// Policy is the ValidatingAdmissionPolicy a cluster would use for the same
// decision: deny Ingresses in namespaces labelled istio-injection=enabled
// unless Istio serves them.
func Policy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	fail := admissionregistrationv1.Fail
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-in-mesh"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"ingresses"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: `!(has(namespaceObject.metadata.labels) && 'istio-injection' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['istio-injection'] == 'enabled') || ` +
					`(has(object.metadata.annotations) && 'kubernetes.io/ingress.class' in object.metadata.annotations && object.metadata.annotations['kubernetes.io/ingress.class'] == 'istio')`,
				MessageExpression: `'Ingress "' + object.metadata.name + '" is not allowed in namespace "' + namespaceObject.metadata.name + '": the namespace is in the Istio mesh'`,
			}},
		},
	}
}

// ServiceEntryPolicy is the MutatingAdmissionPolicy a cluster would write by
// hand for gce-metadata-address on the simplest entry (it names the metadata
// server and declares no addresses): declare 169.254.169.254 and mark the
// entry, as meshguard's annotation does, with the value "cel".
func ServiceEntryPolicy() *admissionregistrationv1.MutatingAdmissionPolicy {
	fail := admissionregistrationv1.Fail
	never := admissionregistrationv1.NeverReinvocationPolicy
	return &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "gce-metadata-address"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			FailurePolicy:      &fail,
			ReinvocationPolicy: never,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"networking.istio.io"}, APIVersions: []string{"*"}, Resources: []string{"serviceentries"}},
				},
			}}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name: "names-the-metadata-server", Expression: `object.spec.hosts.exists(h, h == 'metadata.google.internal')`,
			}},
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: `[JSONPatch{op: 'add', path: '/spec/addresses', value: ['169.254.169.254']}, ` +
					`JSONPatch{op: 'add', path: '/metadata/annotations', value: {'meshguard.dev/mutated': 'cel'}}]`},
			}},
		},
	}
}

// compileVAP compiles a policy the way the ValidatingAdmissionPolicy plugin
// does (validating.compilePolicy, without params, match conditions or audit
// annotations, which this policy does not use).
func compileVAP(p *admissionregistrationv1.ValidatingAdmissionPolicy) (validating.Validator, error) {
	optionalVars := cel.OptionalVariableDeclarations{HasParams: false, HasAuthorizer: true}
	expressionOptionalVars := cel.OptionalVariableDeclarations{HasParams: false, HasAuthorizer: false}
	compiler, err := cel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		return nil, err
	}
	validations := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	messages := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		validations[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		if v.MessageExpression != "" {
			messages[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
		}
	}
	v := validating.NewValidator(
		compiler.CompileCondition(validations, optionalVars, environment.StoredExpressions),
		nil,
		compiler.CompileCondition(nil, optionalVars, environment.StoredExpressions),
		compiler.CompileCondition(messages, expressionOptionalVars, environment.StoredExpressions),
		p.Spec.FailurePolicy,
		nil,
	)
	return v, v.CompileError()
}

// CEL runs the ValidatingAdmissionPolicy validator (k8s.io/apiserver) inside
// a webhook: decode the review with encoding/json, the object into
// unstructured, validate with the namespace object from memory, encode.
func CEL(labels map[string]map[string]string) (Variant, error) {
	v, err := compileVAP(Policy())
	if err != nil {
		return nil, err
	}
	nss := namespaces(labels)
	return func(ctx context.Context, body []byte) ([]byte, error) {
		var in admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		req := in.Request
		if req == nil {
			return nil, errors.New("no request")
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(req.Object.Raw); err != nil {
			return nil, err
		}
		gvk := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
		gvr := schema.GroupVersionResource{Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource}
		dry := req.DryRun != nil && *req.DryRun
		attr := k8sadmission.NewAttributesRecord(obj, nil, gvk, req.Namespace, req.Name, gvr, req.SubResource,
			k8sadmission.Operation(req.Operation), nil, dry, &user.DefaultInfo{Name: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups})
		va := &k8sadmission.VersionedAttributes{Attributes: attr, VersionedObject: k8sadmission.NewLazyObject(obj), VersionedKind: gvk}
		res := v.Validate(ctx, gvr, va, nil, nss[req.Namespace], celconfig.RuntimeCELCostBudget, nil)
		resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
		for _, d := range res.Decisions {
			switch {
			case d.Evaluation == validating.EvalError:
				return nil, fmt.Errorf("evaluation error: %s", d.Message)
			case d.Action == validating.ActionDeny:
				resp.Allowed = false
				resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: d.Reason, Message: d.Message}
			}
		}
		return json.Marshal(admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: resp})
	}, nil
}
