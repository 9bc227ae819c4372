package bench

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sadmission "k8s.io/apiserver/pkg/admission"
)

// policyStep is one policy meeting one admission: the whole policy, or
// only its matchConditions (a MutatingAdmissionPolicy with reinvocationPolicy
// Never, whose conditions the API server still evaluates when it reinvokes
// the mutating plugins).
type policyStep struct {
	a          Admission
	validating *ValidatingPolicy
	mutating   *MutatingPolicy
	matchOnly  bool
}

// policyEvaluation is what one write costs under a variant's policies: the
// steps in the API server's order.
type policyEvaluation []policyStep

// run evaluates every step once.
func (e policyEvaluation) run(ctx context.Context) (spent int64, err error) {
	for _, s := range e {
		var c Cost
		switch {
		case s.mutating != nil && s.matchOnly:
			c, _ = s.mutating.matches(ctx, s.a)
		case s.mutating != nil:
			c = s.mutating.Cost(ctx, s.a)
		default:
			c = s.validating.Cost(ctx, s.a)
		}
		if spent += c.Match + c.Eval; c.Err != nil {
			return spent, c.Err
		}
	}
	return spent, nil
}

// policyEvaluations are the writes bench/cmd/apiload makes (an Ingress of
// class istio, a ServiceEntry naming only the metadata server), each under
// the hand-written policies of its cel variant and under the policies
// `webhook policies` compiles in enforce mode (its compiled variant). A
// mutation that changes the entry makes the API server run the mutating
// plugins a second time (admission.reinvoker; a MutatingAdmissionPolicy
// with reinvocationPolicy IfNeeded is then evaluated again on the changed
// entry), and the validating policies see the entry as mutated. The
// Ingress, its namespace and the parameter ConfigMap are the typed structs
// the API server holds for built-in kinds (Admission.BuiltIn): reading a
// field of one costs reflection, not a map lookup, which is what made the
// compiled Ingress policy's variables expensive in the API server.
func policyEvaluations(t testing.TB) map[string]policyEvaluation {
	t.Helper()
	c := compileForCost(t)
	ns := meshedNamespace()
	vap := func(p *ValidatingPolicy, err error) *ValidatingPolicy {
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	mAP := func(p *MutatingPolicy, err error) *MutatingPolicy {
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// An Ingress is a built-in kind: the API server holds it, and the
	// parameter ConfigMap its informer returns, as typed structs. The
	// ConfigMap carries the field ownership meshguard's apply leaves.
	params := c.params.DeepCopy()
	params.ManagedFields = []metav1.ManagedFieldsEntry{{
		Manager: "meshguard", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1", Time: &metav1.Time{},
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{"f:ingressclass.istio":{}},"f:metadata":{"f:labels":{"f:app.kubernetes.io/managed-by":{}}}}`)},
	}}
	ingress := Admission{Object: storyIngress(t, map[string]any{"kubernetes.io/ingress.class": "istio"}, 0), Namespace: ns,
		Resource: ingressResource, Operation: k8sadmission.Create, Params: params}.BuiltIn()
	se := Admission{Object: serviceEntry(t, 0, 0, "DNS"), Namespace: ns, Resource: serviceEntryResource, Operation: k8sadmission.Create}
	mutated := func(by string) Admission {
		m := se
		m.Object = se.Object.DeepCopy()
		m.Object.Object["spec"].(map[string]any)["addresses"] = []any{"169.254.169.254"}
		m.Object.SetAnnotations(map[string]string{"meshguard.dev/mutated": by})
		return m
	}
	handWritten := mAP(CompileMutatingPolicy(ServiceEntryPolicy()))
	compiled := mAP(CompileMutatingPolicy(c.gce))
	if ServiceEntryPolicy().Spec.ReinvocationPolicy != "Never" || c.gce.Spec.ReinvocationPolicy != "IfNeeded" {
		t.Fatal("the steps below assume the hand-written mutation is never reinvoked and the compiled one is if needed")
	}
	return map[string]policyEvaluation{
		"Ingress/hand-written": {{a: ingress, validating: vap(CompileValidatingPolicy(Policy()))}},
		"Ingress/compiled":     {{a: ingress, validating: vap(CompileValidatingPolicy(c.ingress))}},
		"ServiceEntry/hand-written": {
			{a: se, mutating: handWritten},
			{a: mutated("cel"), mutating: handWritten, matchOnly: true},
		},
		"ServiceEntry/compiled": {
			{a: se, mutating: compiled},
			{a: mutated("gce-metadata-address"), mutating: compiled},
			{a: mutated("gce-metadata-address"), validating: vap(CompileValidatingPolicy(c.gceWarn))},
		},
	}
}

// BenchmarkPolicyEvaluation measures the CEL the API server evaluates per
// write under each variant's policies (matchConditions, variables,
// validations, the JSONPatch expression; not the patch's application),
// in this process with the API server's own evaluators. Compare compiled
// with hand-written through benchstat; cost-units/op is what the API
// server charges against its budgets.
func BenchmarkPolicyEvaluation(b *testing.B) {
	evals := policyEvaluations(b)
	for _, name := range []string{"Ingress/hand-written", "Ingress/compiled", "ServiceEntry/hand-written", "ServiceEntry/compiled"} {
		e := evals[name]
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			var spent int64
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if spent, err = e.run(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(spent), "cost-units/op")
		})
	}
}

// TestPolicyEvaluationsRun keeps the benchmark honest: every variant's
// policies must evaluate without error and spend something (a policy that
// matched nothing would make its variant look free).
func TestPolicyEvaluationsRun(t *testing.T) {
	for name, e := range policyEvaluations(t) {
		spent, err := e.run(context.Background())
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if spent == 0 {
			t.Errorf("%s: the policies spent nothing: they did not run", name)
		}
	}
}
