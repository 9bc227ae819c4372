package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshguard/meshguard/bench"
	"github.com/meshguard/meshguard/pkg/policies"
	"github.com/meshguard/meshguard/pkg/policy"
)

// Two variants have no webhook; the decisions run in the API server as
// admission policies. compiledVariant installs what meshguard compiles
// (pkg/policies, as `webhook policies` prints it: ingress-in-mesh's
// ValidatingAdmissionPolicy with its parameters, gce-metadata-address's
// MutatingAdmissionPolicy and warning policy, and their bindings);
// celVariant the hand-written policies a cluster would use for the same two
// decisions (bench.Policy, bench.ServiceEntryPolicy): the in-tree floor the
// compiled ones are measured against. The Istio-class Ingress of the load
// is allowed silently by both; the ServiceEntry gets the metadata address
// and the mutated annotation ("gce-metadata-address" compiled, "cel" by
// hand). policiesVariant installs the compiled policies alone, without
// the webhook configurations compiledVariant keeps for meshguard's other
// kinds: it separates what the policies cost from what the API server
// spends matching every write against those webhooks.
const (
	compiledVariant = "compiled"
	celVariant      = "cel"
	policiesVariant = "policies"
)

// policySet is one variant's admission policies.
type policySet struct {
	objs []*unstructured.Unstructured
	// ingressPolicy is the ValidatingAdmissionPolicy that denies a classless
	// Ingress: its name in the denial shows the set is in effect.
	ingressPolicy string
}

func compiledPolicies() (*policySet, error) {
	objs, err := policies.Compile(policies.Options{
		Name: "bench", Namespace: "default", Modes: policy.Modes{Default: policy.Enforce}, AllowExemptions: true,
	})
	if err != nil {
		return nil, err
	}
	return &policySet{objs: objs, ingressPolicy: "bench-ingress-in-mesh"}, nil
}

func handWrittenPolicies() (*policySet, error) {
	vap, mp := bench.Policy(), bench.ServiceEntryPolicy()
	vap.Name, mp.Name = "cel-"+vap.Name, "cel-"+mp.Name
	deny := admissionregistrationv1.Deny
	set := &policySet{ingressPolicy: vap.Name}
	for _, o := range []struct {
		kind string
		obj  runtime.Object
	}{
		{"ValidatingAdmissionPolicy", vap},
		{"ValidatingAdmissionPolicyBinding", &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: vap.Name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName: vap.Name, ValidationActions: []admissionregistrationv1.ValidationAction{deny},
			},
		}},
		{"MutatingAdmissionPolicy", mp},
		{"MutatingAdmissionPolicyBinding", &admissionregistrationv1.MutatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: mp.Name},
			Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: mp.Name},
		}},
	} {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o.obj)
		if err != nil {
			return nil, err
		}
		obj := &unstructured.Unstructured{Object: u}
		obj.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind(o.kind))
		set.objs = append(set.objs, obj)
	}
	return set, nil
}

// resource is where the API serves a policy set's kinds.
func resource(u *unstructured.Unstructured) schema.GroupVersionResource {
	gv, kind := u.GroupVersionKind().GroupVersion(), strings.ToLower(u.GetKind())
	if r, ok := strings.CutSuffix(kind, "policy"); ok {
		return gv.WithResource(r + "policies")
	}
	return gv.WithResource(kind + "s")
}

// setPolicies installs the policy set of variant, if it has one, removes
// every other set's policies and bindings, and waits until a classless
// probe Ingress is denied by the installed set's policy, or by none.
func (l *loader) setPolicies(ctx context.Context, variant string, all map[string]*policySet) error {
	for name, set := range all {
		// Two variants share a set (compiled, policies): it is removed and
		// installed again all the same, so that every policy variant's
		// blocks start from a fresh installation, as cel's do.
		if name == variant {
			continue
		}
		for _, u := range set.objs {
			if u.GetKind() == "ConfigMap" {
				continue // parameters match nothing by themselves
			}
			err := l.dyn.Resource(resource(u)).Delete(ctx, u.GetName(), metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	want := ""
	if set, ok := all[variant]; ok {
		for _, u := range set.objs {
			r := l.dyn.Resource(resource(u))
			var err error
			if ns := u.GetNamespace(); ns != "" {
				_, err = r.Namespace(ns).Create(ctx, u.DeepCopy(), metav1.CreateOptions{})
			} else {
				_, err = r.Create(ctx, u.DeepCopy(), metav1.CreateOptions{})
			}
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
			}
		}
		want = set.ingressPolicy
	}
	probe := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "policy-probe"},
		Spec:       networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := l.cs.NetworkingV1().Ingresses(l.ns).Create(ctx, probe, dry)
		byPolicy := err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '")
		switch {
		case want == "" && !byPolicy:
			return nil
		case want != "" && byPolicy && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+want+"'"):
			// The API server compiles changed policies in a loop that runs
			// every second (generic.policySource.refreshPolicies); the
			// objects written after the Ingress policy are compiled on a
			// later turn. Compiling meshguard's policies takes it about
			// 0.3-0.6 s of CPU, once per installation, which would
			// otherwise land in the first block measured.
			time.Sleep(3 * time.Second)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the policies of %q are not in effect after 30 s: the probe got %v", variant, err)
		}
	}
}
