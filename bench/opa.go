package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// RegoModule is the Rego policy for the same decision, with namespaces
// replicated into data.inventory as Gatekeeper does.
const RegoModule = `package meshguard

deny contains msg if {
	input.request.kind.kind == "Ingress"
	ns := data.inventory.namespaces[input.request.namespace]
	ns.metadata.labels["istio-injection"] == "enabled"
	not istio_class
	msg := sprintf("Ingress %q is not allowed in namespace %q: the namespace is in the Istio mesh", [input.request.object.metadata.name, input.request.namespace])
}

istio_class if input.request.object.metadata.annotations["kubernetes.io/ingress.class"] == "istio"
`

// OPA prepares the query once (rego.PrepareForEval) and evaluates it per
// review on the AdmissionReview decoded with encoding/json.
func OPA(ctx context.Context, labels map[string]map[string]string) (Variant, error) {
	inv := map[string]any{}
	for name, l := range labels {
		ls := map[string]any{}
		for k, v := range l {
			ls[k] = v
		}
		inv[name] = map[string]any{"metadata": map[string]any{"name": name, "labels": ls}}
	}
	store := inmem.NewFromObject(map[string]any{"inventory": map[string]any{"namespaces": inv}})
	pq, err := rego.New(
		rego.Query("data.meshguard.deny"),
		rego.Module("meshguard.rego", RegoModule),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, body []byte) ([]byte, error) {
		var input map[string]any
		if err := json.Unmarshal(body, &input); err != nil {
			return nil, err
		}
		req, _ := input["request"].(map[string]any)
		if req == nil {
			return nil, errors.New("no request")
		}
		uid, _ := req["uid"].(string)
		apiVersion, _ := input["apiVersion"].(string)
		rs, err := pq.Eval(ctx, rego.EvalInput(input))
		if err != nil {
			return nil, err
		}
		resp := &admissionv1.AdmissionResponse{UID: types.UID(uid), Allowed: true}
		if len(rs) == 1 && len(rs[0].Expressions) == 1 {
			if msgs, ok := rs[0].Expressions[0].Value.([]any); ok && len(msgs) > 0 {
				var b strings.Builder
				for i, m := range msgs {
					if i > 0 {
						b.WriteString("; ")
					}
					fmt.Fprint(&b, m)
				}
				resp.Allowed = false
				resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: 403, Message: b.String()}
			}
		}
		return json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"}, Response: resp})
	}, nil
}
