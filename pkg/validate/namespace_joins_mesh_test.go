package validate

import (
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
)

func namespaceYAML(name string, labels ...string) []byte {
	s := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name)
	if len(labels) > 0 {
		s += "  labels:\n"
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			s += fmt.Sprintf("    %s: %q\n", k, v)
		}
	}
	return []byte(s)
}

func TestNamespaceJoinsMesh(t *testing.T) {
	ing := func(name string, class *string, ann map[string]string) client.Object {
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "plain", Annotations: ann},
			Spec:       networkingv1.IngressSpec{IngressClassName: class},
		}
	}
	nginx, istio := "nginx", "istio-gw"
	held := []client.Object{
		ing("web", nil, nil),
		ing("shop", &nginx, nil),
		ing("mesh-entry", &istio, nil),
		ing("legacy", nil, map[string]string{IngressClassAnnotation: "istio"}),
	}
	exempted := ing("migrating", &nginx, map[string]string{policy.ExemptAnnotation: "ingress-in-mesh", policy.ExemptReasonAnnotation: "moves to a Gateway next sprint"})
	tests := map[string]struct {
		modes    policy.Modes
		old, new []byte
		op       admissionv1.Operation
		objects  []client.Object
		warnings []string // substrings; nil = no warning
		absent   []string
		// noExemptions runs the server with --allow-exemptions=false.
		noExemptions bool
	}{
		"labelling a namespace into the mesh names its non-Istio Ingresses": {
			old: namespaceYAML("plain"), new: namespaceYAML("plain", "istio-injection=enabled"), objects: held,
			warnings: []string{`[namespace-joins-mesh] namespace "plain" joins the Istio mesh (istio-injection=enabled)`, `"web"`, `"shop"`, "Gateway API Gateway"},
			absent:   []string{`"mesh-entry"`, `"legacy"`}},
		"joining by revision label warns the same way": {
			old: namespaceYAML("plain"), new: namespaceYAML("plain", "istio.io/rev=canary"), objects: held,
			warnings: []string{"(istio.io/rev=canary)", `"web"`}},
		"audit mode warns with the audit prefix": {
			modes: policy.Modes{Default: policy.Audit},
			old:   namespaceYAML("plain"), new: namespaceYAML("plain", "istio-injection=enabled"), objects: held,
			warnings: []string{"[namespace-joins-mesh] (audit) namespace"}},
		"a namespace with only Istio Ingresses joins silently": {
			old: namespaceYAML("plain"), new: namespaceYAML("plain", "istio-injection=enabled"), objects: held[2:]},
		"a namespace already in the mesh is not warned again": {
			old: namespaceYAML("plain", "istio.io/rev=canary"), new: namespaceYAML("plain", "istio-injection=enabled"), objects: held},
		"leaving the mesh is not warned": {
			old: namespaceYAML("plain", "istio-injection=enabled"), new: namespaceYAML("plain", "istio-injection=disabled"), objects: held},
		"Ingresses exempted from ingress-in-mesh are left out: their changes will not be denied": {
			old: namespaceYAML("plain"), new: namespaceYAML("plain", "istio-injection=enabled"), objects: append(held, exempted),
			warnings: []string{`"web"`, `"shop"`}, absent: []string{`"migrating"`}},
		"an exemption the cluster does not honour leaves the Ingress in": {
			old: namespaceYAML("plain"), new: namespaceYAML("plain", "istio-injection=enabled"), objects: append(held, exempted), noExemptions: true,
			warnings: []string{`"web"`, `"migrating"`}},
		"a namespace created in the mesh holds nothing yet": {
			op: admissionv1.Create, new: namespaceYAML("plain", "istio-injection=enabled"), objects: held},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			modes := tc.modes
			if modes.Default == "" {
				modes.Default = policy.Enforce
			}
			f := newFixture(t, modes, !tc.noExemptions, tc.objects...)
			op := tc.op
			if op == "" {
				op = admissionv1.Update
			}
			resp := reviewtest.Send(t, f.handler, reviewtest.Req{Op: op, Object: tc.new, OldObject: tc.old})
			if !resp.Allowed {
				t.Fatalf("a namespace change must never be denied: %+v", resp.Result)
			}
			reviewtest.Warnings(t, resp.Warnings, tc.warnings, tc.absent)
		})
	}
}
