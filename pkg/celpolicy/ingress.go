// Package celpolicy compiles meshguard rules into admission policies the
// API server evaluates itself (ValidatingAdmissionPolicy), from the same
// declarations and message text as the webhook's rules. What CEL cannot look
// up, the IngressClasses and their controllers, comes from a parameter
// ConfigMap that meshguard's leader keeps in sync (Params).
package celpolicy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
)

// Rules that can be compiled.
var Compilable = []string{validate.IngressInMesh{}.ID()}

// ClassKeyPrefix prefixes, in the parameter ConfigMap, the key of each
// IngressClass; the value is its controller.
const ClassKeyPrefix = "ingressclass."

// Options say what to compile, for which installation.
type Options struct {
	// Name prefixes every object's name ("meshguard": meshguard-ingress-in-mesh)
	// and names the parameter ConfigMap (NAME-policy-params).
	Name string
	// Namespace holds the parameter ConfigMap (meshguard's own).
	Namespace string
	// Modes decide each rule's mode; a rule that is off is not compiled.
	Modes policy.Modes
	// Excluded namespaces are never matched (kube-system, kube-node-lease,
	// meshguard's own: a policy must not block the repair of its own
	// parameters).
	Excluded        []string
	AllowExemptions bool
	// ExemptionAuthz requires, as --exemption-authz does, that whoever adds
	// an exemption may: verb exempt on rules.meshguard.dev in the namespace.
	ExemptionAuthz bool
	Mesh           mesh.Options
	Istio          validate.IstioIngress
	// Rules are the rules to compile (a subset of Compilable).
	Rules []string
}

// ParamsName is the name of the parameter ConfigMap.
func (o Options) ParamsName() string { return o.Name + "-policy-params" }

// Params is the parameter ConfigMap for the IngressClasses of the cluster.
func (o Options) Params(classes []networkingv1.IngressClass) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: o.ParamsName(), Namespace: o.Namespace},
		Data:       map[string]string{},
	}
	for _, c := range classes {
		cm.Data[ClassKeyPrefix+c.Name] = c.Spec.Controller
	}
	return cm
}

// Compile returns the policies and bindings of o.Rules, then the parameter
// ConfigMap for classes.
func Compile(o Options, classes []networkingv1.IngressClass) ([]*unstructured.Unstructured, error) {
	var objs []runtime.Object
	for _, id := range o.Rules {
		if !slices.Contains(Compilable, id) {
			return nil, fmt.Errorf("rule %s cannot be compiled to an admission policy (only %s can)", id, strings.Join(Compilable, ", "))
		}
		mode := o.Modes.For(id)
		if mode == policy.Off {
			continue
		}
		p, b := o.ingressInMesh(mode)
		objs = append(objs, p, b)
	}
	if len(objs) > 0 {
		objs = append(objs, o.Params(classes))
	}
	return Manifests(objs...)
}

// Manifests turns typed objects into the unstructured manifests that are
// applied: no status, no creationTimestamp.
func Manifests(objs ...runtime.Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "status")
		out = append(out, u)
	}
	return out, nil
}

// lit is s as a CEL string literal.
func lit(s string) string { return strconv.Quote(s) }

func (o Options) ingressInMesh(mode policy.Mode) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	id := validate.IngressInMesh{}.ID()
	name := o.Name + "-" + id
	istio := o.Istio
	class, imode := istio.Class, istio.Mode
	if class == "" {
		class = validate.IstioIngressClass
	}
	if imode == "" {
		imode = validate.IngressModeStrict
	}
	cls := lit(validate.IngressClassAnnotation)
	on, byDefault := imode != validate.IngressModeOff, imode == validate.IngressModeDefault
	// The decision is one expression that reads each field once: every
	// variable a policy declares costs each evaluation, and each one it
	// reads is a program of its own, which for the typed objects the API
	// server holds for an Ingress and its namespace costs more than the
	// rest of the decision. CEL here has no cel.bind, so a one-element
	// list's comprehension names a value read once (l: the namespace's
	// labels, a: the Ingress's annotations, c: its class name, k: that
	// class's controller). The message, evaluated only on a denial, reads
	// the variables.
	labels := "namespaceObject.metadata.?labels.orValue({})"
	ann := "object.metadata.?annotations.orValue({})"
	className := "object.spec.?ingressClassName.orValue('')"
	servedByIstio := fmt.Sprintf("(%[1]s in a ? (a[%[1]s] == %[2]s && %[3]t) : [%[4]s].exists(c, [%[5]s].exists(k, k != '' ? k == %[6]s : %[7]t)))",
		cls, lit(class), on, className, controller("c"), lit(validate.IstioIngressController), byDefault)
	allowed := fmt.Sprintf("[%s].all(l, !(%s)) || [%s].exists(a, %s || %s || %s)",
		labels, o.meshed("l"), ann, servedByIstio, metadataOnly("a", cls), o.exempt(id, "a"))
	vars := []admissionregistrationv1.Variable{
		{Name: "meshReason", Expression: o.meshReason(labels)},
		{Name: "ann", Expression: ann},
		{Name: "className", Expression: className},
		{Name: "controller", Expression: controller("variables.className")},
		{Name: "desc", Expression: fmt.Sprintf(
			`%s in variables.ann ? '"' + variables.ann[%s] + '" (annotation ' + %s + ')' + (variables.ann[%s] == %s && %t ? ", which Istio ignores: its ingressControllerMode is OFF" : '') : `+
				`variables.controller != '' ? 'IngressClass "' + variables.className + '" (controller ' + variables.controller + ')' : `+
				`variables.className != '' ? 'IngressClass "' + variables.className + '", which does not exist, so Istio does not serve it' : %s`,
			cls, cls, cls, cls, lit(class), imode == validate.IngressModeOff,
			lit("the cluster's default Ingress controller (no ingress class is set; on GKE that is the GCE load balancer)"))},
	}
	hint := fmt.Sprintf("%s + namespaceObject.metadata.name + (has(object.metadata.resourceVersion) && object.metadata.resourceVersion != '' ? ' ' + object.metadata.name + %s : %s)",
		lit(validate.ConvertHintPrefix), lit(validate.ConvertHintByName), lit(validate.ConvertHintByFile))
	tag := "[" + id + "] "
	if mode == policy.Audit {
		tag += "(audit) would deny: "
	}
	ip := lit(validate.GlobalStaticIPAnnotation)
	message := lit(tag+"Ingress \"") + " + object.metadata.name + " + lit("\" is not allowed in namespace \"") + " + namespaceObject.metadata.name + " +
		lit("\": the namespace is in the Istio mesh (") + " + variables.meshReason + " + lit(") and this Ingress is served by ") + " + variables.desc + " +
		lit(", which bypasses mesh routing and mTLS; "+validate.GatewayAdvice) +
		" + (" + ip + " in variables.ann && variables.ann[" + ip + "] != '' ? " + lit(validate.StaticIPNotePrefix+"\"") + " + variables.ann[" + ip + "] + " + lit("\""+validate.StaticIPNoteSuffix) + " : '') + " + hint

	p := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(failurePolicy(mode)),
			ParamKind:     &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
			MatchConstraints: &admissionregistrationv1.MatchResources{
				MatchPolicy: ptr.To(admissionregistrationv1.Equivalent),
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"ingresses"}},
				}}},
			},
			Variables: vars,
			Validations: []admissionregistrationv1.Validation{{
				Expression:        allowed,
				MessageExpression: message,
				Reason:            ptr.To(metav1.StatusReasonForbidden),
			}},
		},
	}
	actions := []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}
	notFound := admissionregistrationv1.DenyAction
	if mode == policy.Audit {
		actions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn, admissionregistrationv1.Audit}
		notFound = admissionregistrationv1.AllowAction
	}
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: name,
			ParamRef: &admissionregistrationv1.ParamRef{
				Name: o.ParamsName(), Namespace: o.Namespace,
				ParameterNotFoundAction: ptr.To(notFound),
			},
			MatchResources: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: o.excluded(),
				}}},
			},
			ValidationActions: actions,
		},
	}
	return p, b
}

// excluded are the namespaces no policy matches: the system ones, meshguard's
// own (its parameters must stay repairable) and the configured ones.
func (o Options) excluded() []string {
	ns := []string{"kube-system", "kube-node-lease"}
	if o.Namespace != "" {
		ns = append(ns, o.Namespace)
	}
	for _, n := range o.Excluded {
		if !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}

// meshReason is pkg/mesh.Check in CEL over the namespace's labels l: the
// label that makes the namespace meshed, or the empty string when it is not.
func (o Options) meshReason(l string) string {
	byDefault := "''"
	if o.Mesh.ByDefault {
		byDefault = fmt.Sprintf("%s ? '' : %s", o.systemNamespace(), lit("every unlabelled namespace is meshed on this cluster (--mesh-by-default)"))
	}
	return fmt.Sprintf(
		"(%[2]s in %[1]s && %[1]s[%[2]s] == 'ambient') ? %[2]s + '=ambient' : "+
			"%[3]s in %[1]s ? (%[1]s[%[3]s] == 'enabled' ? %[3]s + '=enabled' : '') : "+
			"%[4]s in %[1]s ? %[4]s + '=' + %[1]s[%[4]s] : "+
			"%[2]s in %[1]s ? '' : %[5]s",
		l, lit(mesh.DataplaneLabel), lit(mesh.InjectionLabel), lit(mesh.RevisionLabel), byDefault)
}

// meshed is meshReason(l) is not empty, without building the reason.
func (o Options) meshed(l string) string {
	byDefault := "false"
	if o.Mesh.ByDefault {
		byDefault = "!(" + o.systemNamespace() + ")"
	}
	return fmt.Sprintf(
		"(%[2]s in %[1]s && %[1]s[%[2]s] == 'ambient') || "+
			"(%[3]s in %[1]s ? %[1]s[%[3]s] == 'enabled' : "+
			"%[4]s in %[1]s || (!(%[2]s in %[1]s) && %[5]s))",
		l, lit(mesh.DataplaneLabel), lit(mesh.InjectionLabel), lit(mesh.RevisionLabel), byDefault)
}

// systemNamespace holds for the namespaces --mesh-by-default leaves out.
func (o Options) systemNamespace() string {
	system := []string{"'kube-system'", "'kube-public'", "'kube-node-lease'"}
	for _, n := range o.Mesh.SystemNamespaces {
		system = append(system, lit(n))
	}
	return fmt.Sprintf("namespaceObject.metadata.name in [%s]", strings.Join(system, ", "))
}

// controller is the controller of the IngressClass named c, from the
// parameters; empty for no class or one that does not exist.
func controller(c string) string {
	key := lit(ClassKeyPrefix) + " + " + c
	return fmt.Sprintf("%[1]s != '' && has(params.data) && (%[2]s) in params.data ? params.data[%[2]s] : ''", c, key)
}

// metadataOnly holds for an UPDATE that changes neither the spec nor the
// class annotation cls (the webhook's metadata-only update), a being the
// new object's annotations.
func metadataOnly(a, cls string) string {
	return fmt.Sprintf(
		"(request.operation == 'UPDATE' && oldObject != null && object.?spec == oldObject.?spec && "+
			"(%[2]s in %[1]s) == (has(oldObject.metadata.annotations) && %[2]s in oldObject.metadata.annotations) && "+
			"(!(%[2]s in %[1]s) || %[1]s[%[2]s] == oldObject.metadata.annotations[%[2]s]))", a, cls)
}

// exempt is Exemption for o's exemption flags.
func (o Options) exempt(id, ann string) string {
	return Exemption(id, ann, o.AllowExemptions, o.ExemptionAuthz)
}

// Exemption is policy's checkExemption (and, with authz, the webhook's
// --exemption-authz) in CEL over the annotations ann: exemptions are
// allowed and the rule is listed in meshguard.dev/exempt with a non-empty
// meshguard.dev/exempt-reason. With authz, the requester must be allowed
// verb exempt on rules.meshguard.dev named for the rule in the namespace,
// unless an UPDATE keeps the exemption the stored object already had.
// CEL's authorizer asks the API server's authorizer exactly that question,
// so unlike what one might expect the RBAC gate is expressible; what CEL
// cannot give is the webhook's note in the message saying why an exemption
// was refused.
func Exemption(id, ann string, allow, authz bool) string {
	if !allow {
		return "false"
	}
	er := lit(policy.ExemptReasonAnnotation)
	asks := func(a string) string { return ExemptionAsked(id, a) }
	expr := asks(ann)
	if authz {
		old := "(oldObject != null ? oldObject.metadata.?annotations.orValue({}) : {})"
		kept := fmt.Sprintf("(request.operation == 'UPDATE' && %s && %s[%s].trim() == %s[%s].trim())", asks(old), old, er, ann, er)
		may := fmt.Sprintf("authorizer.group(%s).resource(%s).namespace(request.namespace).name(%s).check(%s).allowed()",
			lit(policy.ExemptionGroup), lit(policy.ExemptionResource), lit(id), lit(policy.ExemptionVerb))
		expr = fmt.Sprintf("%s && (%s || %s)", expr, kept, may)
	}
	return expr
}

// MaxExemptionList is the longest meshguard.dev/exempt value, in bytes, a
// compiled policy reads. Splitting and scanning a list costs the API server
// CPU out of proportion to its CEL cost units (cel-go's cost tracker scans
// its stack once per element: 50 KiB took 1 s, 250 KiB 23 s before the cost
// limit stopped it), so a longer value exempts nothing; the webhook still
// reads it. The rule IDs fit in far less.
const MaxExemptionList = 1024

// ExemptionAsked is CEL asking, over the annotations ann, whether the
// object lists rule id in meshguard.dev/exempt (at most MaxExemptionList
// bytes) with a non-empty meshguard.dev/exempt-reason.
func ExemptionAsked(id, ann string) string {
	ea, er := lit(policy.ExemptAnnotation), lit(policy.ExemptReasonAnnotation)
	return fmt.Sprintf("(%[2]s in %[1]s && size(%[1]s[%[2]s]) <= %[5]d && %[1]s[%[2]s].split(',').exists(r, r.trim() == %[4]s) && %[3]s in %[1]s && %[1]s[%[3]s].trim() != '')",
		ann, ea, er, lit(id), MaxExemptionList)
}

func failurePolicy(m policy.Mode) admissionregistrationv1.FailurePolicyType {
	if m == policy.Audit {
		return admissionregistrationv1.Ignore
	}
	return admissionregistrationv1.Fail
}
