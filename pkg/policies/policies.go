// Package policies compiles the meshguard rules that CEL can express into
// admission policies the API server evaluates itself: ingress-in-mesh into a
// ValidatingAdmissionPolicy (built by pkg/celpolicy, which the running
// meshguard keeps in sync) and gce-metadata-address into a
// MutatingAdmissionPolicy (admissionregistration.k8s.io/v1, GA and served by
// default since Kubernetes 1.36) with a JSONPatch mutation, plus a
// ValidatingAdmissionPolicy that gives the warnings a mutating policy cannot.
// Everything is derived from the rules' declarations (Match) and message
// text; docs/policies.md says where the engines still differ.
package policies

import (
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshguard/meshguard/pkg/celpolicy"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
)

// The label every generated object carries.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "meshguard"
)

// Compilable lists the rules Compile can turn into admission policies.
var Compilable = []string{validate.IngressInMesh{}.ID(), mutate.GCEMetadataAddress{}.ID()}

// Options say what to compile, for which installation; the fields mean what
// the webhook's flags of the same name mean.
type Options struct {
	// Name prefixes every object's name (default "meshguard").
	Name string
	// Namespace is meshguard's own: it holds ingress-in-mesh's parameter
	// ConfigMap (NAME-policy-params) and no policy matches it.
	Namespace string
	// Modes decide each rule's mode: enforce, audit, or off (not compiled).
	Modes policy.Modes
	// Rules to compile; nil means Compilable.
	Rules []string
	// Excluded namespaces are matched by no policy, besides kube-system,
	// kube-node-lease and Namespace.
	Excluded []string
	// AllowExemptions honours meshguard.dev/exempt with a non-empty
	// meshguard.dev/exempt-reason, as the webhook's --allow-exemptions.
	AllowExemptions bool
	// ExemptionAuthz also requires that the requester may exempt (verb
	// exempt on rules.meshguard.dev, named for the rule, in the namespace),
	// asked through CEL's authorizer.
	ExemptionAuthz bool
	Mesh           mesh.Options
	Istio          validate.IstioIngress
	// IngressClasses fill ingress-in-mesh's parameter ConfigMap: CEL cannot
	// look an IngressClass up, so its controller comes from there. Empty,
	// the ConfigMap holds no class (the running meshguard fills it).
	IngressClasses []networkingv1.IngressClass
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "meshguard"
	}
	if o.Namespace == "" {
		o.Namespace = "meshguard-system"
	}
	if o.Rules == nil {
		o.Rules = Compilable
	}
	return o
}

// Compile returns the admission policies, bindings and parameters of the
// rules of o that are not off, each labelled app.kubernetes.io/managed-by:
// meshguard: for ingress-in-mesh its ValidatingAdmissionPolicy, binding and
// parameter ConfigMap; for gce-metadata-address in enforce mode its
// MutatingAdmissionPolicy and binding plus a warn-only
// ValidatingAdmissionPolicy and binding, in audit mode only the latter
// (warning with the would-be change instead of mutating).
func Compile(o Options) ([]*unstructured.Unstructured, error) {
	o = o.withDefaults()
	for _, id := range o.Rules {
		if !slices.Contains(Compilable, id) {
			return nil, fmt.Errorf("rule %s cannot be compiled to an admission policy (only %s can)", id, strings.Join(Compilable, ", "))
		}
	}
	var out []*unstructured.Unstructured
	ingress := validate.IngressInMesh{}.ID()
	if slices.Contains(o.Rules, ingress) {
		objs, err := celpolicy.Compile(celpolicy.Options{
			Name: o.Name, Namespace: o.Namespace, Modes: o.Modes, Excluded: o.Excluded,
			AllowExemptions: o.AllowExemptions, ExemptionAuthz: o.ExemptionAuthz,
			Mesh: o.Mesh, Istio: o.Istio, Rules: []string{ingress},
		}, o.IngressClasses)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	gce := mutate.GCEMetadataAddress{}
	if slices.Contains(o.Rules, gce.ID()) {
		if mode := o.Modes.For(gce.ID()); mode != policy.Off {
			objs, err := celpolicy.Manifests(o.gceMetadataAddress(mode)...)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	for _, u := range out {
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ManagedByLabel] = ManagedBy
		u.SetLabels(labels)
	}
	return out, nil
}

// excluded are the namespaces no policy matches: the system ones,
// meshguard's own and the configured ones (as pkg/celpolicy's).
func (o Options) excluded() []string {
	ns := []string{"kube-system", "kube-node-lease", o.Namespace}
	for _, n := range o.Excluded {
		if !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}
