package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshguard/meshguard/pkg/celpolicy"
	"github.com/meshguard/meshguard/pkg/policy"
)

// compiledVariant has no webhook: ingress-in-mesh runs in the API server as
// the ValidatingAdmissionPolicy meshguard compiles (pkg/celpolicy), with its
// parameters. It leaves no mark: the Istio-class Ingress of the load is
// allowed silently.
const compiledVariant = "compiled"

// compiledPolicy is what the variant installs.
type compiledPolicy struct {
	policy  *admissionregistrationv1.ValidatingAdmissionPolicy
	binding *admissionregistrationv1.ValidatingAdmissionPolicyBinding
	params  *corev1.ConfigMap
}

func newCompiledPolicy() (*compiledPolicy, error) {
	objs, err := celpolicy.Compile(celpolicy.Options{
		Name: "bench", Namespace: "default", Rules: celpolicy.Compilable,
		Modes: policy.Modes{Default: policy.Enforce}, AllowExemptions: true,
	}, nil)
	if err != nil {
		return nil, err
	}
	cp := &compiledPolicy{
		policy: &admissionregistrationv1.ValidatingAdmissionPolicy{}, binding: &admissionregistrationv1.ValidatingAdmissionPolicyBinding{},
		params: &corev1.ConfigMap{},
	}
	for _, u := range objs {
		var into any
		switch u.GetKind() {
		case "ValidatingAdmissionPolicy":
			into = cp.policy
		case "ValidatingAdmissionPolicyBinding":
			into = cp.binding
		case "ConfigMap":
			into = cp.params
		default:
			return nil, fmt.Errorf("unexpected compiled kind %s", u.GetKind())
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// set installs (on) or removes the compiled policy; installed, it waits
// until a classless Ingress in the meshed namespace is denied by it.
func (l *loader) setCompiled(ctx context.Context, cp *compiledPolicy, on bool) error {
	a := l.cs.AdmissionregistrationV1()
	if !on {
		for _, err := range []error{
			a.ValidatingAdmissionPolicyBindings().Delete(ctx, cp.binding.Name, metav1.DeleteOptions{}),
			a.ValidatingAdmissionPolicies().Delete(ctx, cp.policy.Name, metav1.DeleteOptions{}),
		} {
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	}
	if _, err := l.cs.CoreV1().ConfigMaps(cp.params.Namespace).Create(ctx, cp.params.DeepCopy(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := a.ValidatingAdmissionPolicies().Create(ctx, cp.policy.DeepCopy(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := a.ValidatingAdmissionPolicyBindings().Create(ctx, cp.binding.DeepCopy(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	probe := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "compiled-probe"},
		Spec:       networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := l.cs.NetworkingV1().Ingresses(l.ns).Create(ctx, probe, dry)
		if err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+cp.policy.Name+"'") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the compiled policy is not in effect after 30 s: the probe got %v", err)
		}
	}
}
