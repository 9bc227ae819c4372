package policies

import (
	"fmt"
	"regexp"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/meshguard/meshguard/pkg/celpolicy"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
)

// metadataNames are the metadata server's names as pkg/mutate's
// isMetadataName accepts them.
var metadataNames = litList("metadata.google.internal", "metadata.google.internal.", "metadata", "metadata.")

const mdIP = mutate.GCEMetadataIP

// serviceEntryMaxItems is the maxItems of spec.hosts and spec.addresses in
// Istio's ServiceEntry CRD (istio.io/api kubernetes/customresourcedefinitions.gen.yaml).
// The policy matches no larger entry: the schema refuses it after mutating
// admission, and the variables' list scans cost the API server CPU that
// grows with the square of the list (cel-go's runtime cost tracker), 1.4 s
// for 20,000 hosts and 36 s for 100,000 in bench's TestCompiledPolicyCostHeadroom.
const serviceEntryMaxItems = 256

// mayChange holds for every entry variables.changes holds for, read from
// the fields alone (an IP host, no plain metadata IP in spec.addresses, a
// CIDR address with a DNS resolution, resolution STATIC without endpoints).
// Entries the rule has already fixed fail it, so a policy that matches on it
// skips its variables for them: on UPDATEs of fixed entries, and when the
// API server runs the mutating policies again after this one changed the
// entry (a policy with reinvocationPolicy IfNeeded that mutated is always
// reinvoked once, and the reinvocation would otherwise evaluate every
// variable and round-trip the entry through JSON for an empty patch).
var mayChange = strings.Join([]string{
	"object.?spec.?hosts.orValue([]).exists(h, " + isAddr("h") + ")",
	"!(" + lit(mdIP) + " in object.?spec.?addresses.orValue([]))",
	"(object.?spec.?resolution.orValue('') in ['DNS', 'DNS_ROUND_ROBIN'] && object.?spec.?addresses.orValue([]).exists(a, a.contains('/')))",
	"(object.?spec.?resolution.orValue('') == 'STATIC' && size(object.?spec.?endpoints.orValue([])) == 0 && object.?spec.?workloadSelector.orValue(null) == null)",
}, " || ")

// The entry's fields, read where they are used: a variable costs the API
// server more than the field access it would save (each policy evaluation
// builds a map of all its variables, each variable is a program run).
const (
	seHosts      = "object.?spec.?hosts.orValue([])"
	seAddrs      = "object.?spec.?addresses.orValue([])"
	seResolution = "object.?spec.?resolution.orValue('')"
	seDNS        = "(" + seResolution + " in ['DNS', 'DNS_ROUND_ROBIN'])"
	seAnn        = "object.metadata.?annotations.orValue({})"
)

// gceVariables are pkg/mutate's metadataPlan in CEL, one variable per field,
// over the ServiceEntry in object. Both policies match only entries that
// name the metadata server (names-the-metadata-server), which the
// variables take for granted. Each policy declares only the variables its
// expressions use (usedVariables).
func (o Options) gceVariables(id string) []admissionregistrationv1.Variable {
	slashMD := func(a string) string {
		return fmt.Sprintf("(%[1]s.contains('/') && isCIDR(%[1]s) && string(cidr(%[1]s)) == %[2]s)", a, lit(mdIP+"/32"))
	}
	v := func(name, expr string) admissionregistrationv1.Variable {
		return admissionregistrationv1.Variable{Name: name, Expression: expr}
	}
	known := seResolution + " in ['', 'NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']"
	return []admissionregistrationv1.Variable{
		// The metadata host as written.
		v("name", seHosts+".filter(h, h in "+metadataNames+")[?0].orValue('')"),
		v("ips", seHosts+".filter(h, "+isAddr("h")+")"),
		v("others", seHosts+".filter(h, !(h in "+metadataNames+") && !"+isAddr("h")+")"),
		v("keptHosts", seHosts+".filter(h, !"+isAddr("h")+")"),
		v("declared", seAddrs+".filter(a, "+isAddr("a")+").map(a, "+addrKey("a")+")"),
		v("ipKeys", "variables.ips.map(h, "+addrKey("h")+")"),
		// An IP host already declared, or repeated, is dropped; the others
		// move. Most entries have no IP host and skip the scans.
		v("moved", "size(variables.ips) == 0 ? [] : variables.ips.transformList(i, h, !(variables.ipKeys[i] in variables.declared) && !(variables.ipKeys[i] in variables.ipKeys.slice(0, i)), h)"),
		v("dropped", "size(variables.ips) == 0 ? [] : variables.ips.transformList(i, h, variables.ipKeys[i] in variables.declared || variables.ipKeys[i] in variables.ipKeys.slice(0, i), h)"),
		v("added", fmt.Sprintf("!(%[1]s in variables.declared) && (size(variables.ips) == 0 || !(%[1]s in variables.ipKeys))", lit(mdIP+"/32"))),
		v("planned", seAddrs+" + variables.moved.map(h, "+addrString("h")+") + (variables.added ? ["+lit(mdIP)+"] : [])"),
		v("plained", seDNS+" && variables.planned.exists(a, "+slashMD("a")+")"),
		// DNS resolutions take the metadata IP's /32 as the plain IP, once.
		v("addresses", fmt.Sprintf("!variables.plained ? variables.planned : variables.planned.transformList(i, a, !%[1]s || (!(%[2]s in variables.planned) && !variables.planned.slice(0, i).exists(p, %[3]s)), %[1]s ? %[2]s : a)",
			slashMD("a"), lit(mdIP), slashMD("p"))),
		v("endpoint", seResolution+" == 'STATIC' && size(object.?spec.?endpoints.orValue([])) == 0 && object.?spec.?workloadSelector.orValue(null) == null"),
		v("changes", "size(variables.ips) > 0 || variables.added || variables.plained || variables.endpoint"),
		v("blocked", seResolution+" == 'DYNAMIC_DNS' || ("+seDNS+" && variables.addresses.exists(a, a.contains('/')))"),
		v("exempt", celpolicy.Exemption(id, seAnn, o.AllowExemptions, o.ExemptionAuthz)),
		// The rule would change the entry (what the MAP applies).
		v("apply", known+" && variables.changes && !variables.blocked && !variables.exempt"),
		// The rule would warn that it leaves the entry unchanged.
		v("stuck", known+" && variables.changes && variables.blocked && !variables.exempt"),
	}
}

// variableRef is a reference to a composited variable in CEL.
var variableRef = regexp.MustCompile(`\bvariables\.([A-Za-z_][A-Za-z0-9_]*)`)

// usedVariables are the variables of vars that exprs use, directly or
// through other variables, in vars' order (a variable may only use those
// declared before it).
func usedVariables(vars []admissionregistrationv1.Variable, exprs ...string) []admissionregistrationv1.Variable {
	used := map[string]bool{}
	mark := func(expr string) {
		for _, m := range variableRef.FindAllStringSubmatch(expr, -1) {
			used[m[1]] = true
		}
	}
	for _, e := range exprs {
		mark(e)
	}
	for i := len(vars) - 1; i >= 0; i-- {
		if used[vars[i].Name] {
			mark(vars[i].Expression)
		}
	}
	var out []admissionregistrationv1.Variable
	for _, v := range vars {
		if used[v.Name] {
			out = append(out, v)
		}
	}
	return out
}

// gcePatch is the mutation's JSONPatch expression: pkg/mutate's
// metadataPlan.patch and the meshguard.dev/mutated annotation the engine
// adds (merged with the rules recorded before).
func gcePatch(id string) string {
	mutated := lit(policy.MutatedAnnotation)
	ops := []string{
		"(size(variables.ips) > 0 ? [JSONPatch{op: 'replace', path: '/spec/hosts', value: variables.keptHosts}] : [])",
		"(variables.added || variables.plained || size(variables.moved) > 0 ? [JSONPatch{op: object.?spec.?addresses.hasValue() ? 'replace' : 'add', path: '/spec/addresses', value: variables.addresses}] : [])",
		"(variables.endpoint ? [JSONPatch{op: 'add', path: '/spec/endpoints', value: [{'address': " + lit(mdIP) + "}]}] : [])",
		fmt.Sprintf("[!has(object.metadata.annotations) ? JSONPatch{op: 'add', path: '/metadata/annotations', value: {%[1]s: %[2]s}} : "+
			"JSONPatch{op: 'add', path: %[3]s, value: ((%[1]s in %[4]s ? %[4]s[%[1]s].split(',').map(r, r.trim()).filter(r, r != '') : []) + [%[2]s]).distinct().join(',')}]",
			mutated, lit(id), lit(policy.Pointer("metadata", "annotations", policy.MutatedAnnotation)), seAnn),
	}
	return "variables.apply ? " + strings.Join(ops, " + ") + " : []"
}

// gceMessages are pkg/mutate's messages in CEL: the change (describe and
// why), the advice about other hosts, and why an entry is left unchanged.
func gceMessages() (change, others, stuck string) {
	md := lit(mdIP)
	moved := "variables.moved.map(h, h + (" + addrString("h") + " != h ? ' (as ' + " + addrString("h") + " + ')' : ''))"
	parts := strings.Join([]string{
		"(size(variables.moved) > 0 ? ['moved ' + " + listSome(moved, " and ") + " + ' from spec.hosts to spec.addresses'] : [])",
		"(size(variables.dropped) > 0 ? ['removed ' + " + listSome("variables.dropped", " and ") + " + ' from spec.hosts (already in spec.addresses)'] : [])",
		"(variables.added ? [" + lit("added "+mdIP+" to spec.addresses") + "] : [])",
		"(variables.plained ? [" + lit("replaced "+mdIP+"/32 with "+mdIP+" in spec.addresses") + "] : [])",
		"(variables.endpoint ? [" + lit("added the endpoint {address: "+mdIP+"}") + "] : [])",
	}, " + ")
	describe := joinAnd("(" + parts + ")")
	why := "(" + strings.Join([]string{
		"(size(variables.ips) > 0 ? ['istiod rejects IP addresses in spec.hosts (an all-numeric top-level domain)'] : [])",
		"(variables.added || variables.moved.exists(h, " + addrKey("h") + " == " + lit(mdIP+"/32") + ") ? [variables.name + " + lit(" only reaches the metadata server through the sidecar when its address "+mdIP+" is declared in spec.addresses") + "] : [])",
		"(variables.plained ? ['istiod accepts no CIDR addresses with resolution ' + " + seResolution + "] : [])",
		"(variables.endpoint ? ['resolution STATIC sends traffic only to the listed endpoints'] : [])",
	}, " + ") + ").join(', ')"
	se := "'ServiceEntry \"' + " + displayName + " + '\"'"
	change = se + " + ': ' + " + describe + " + '; ' + " + why + " + '; make the same change in your source manifest'"
	others = se + " + ' also lists ' + " + listSome("variables.others", ", ") + " + ' in spec.hosts and its ' + (variables.endpoint ? 'spec.addresses and spec.endpoints apply' : 'spec.addresses apply') + " +
		"' to every host: a dedicated ServiceEntry for the metadata server (hosts: [' + variables.name + '], addresses: [' + " + md + " + ']) is cleaner'"
	stuck = se + " + ' was left unchanged although it names ' + variables.name + ' (the change would be: ' + " + describe + " + '): ' + (" + seResolution + " == 'DYNAMIC_DNS' ? " +
		"'istiod allows neither addresses nor non-wildcard hosts with resolution DYNAMIC_DNS; give ' + variables.name + ' a ServiceEntry of its own with resolution NONE and addresses: [' + " + md + " + ']' : " +
		"'it has resolution ' + " + seResolution + " + ' and the CIDR address ' + variables.addresses.filter(a, a.contains('/'))[0] + ', which istiod rejects (CIDR addresses are allowed only with resolution NONE or STATIC) whatever is added; give ' + variables.name + ' a ServiceEntry of its own with addresses: [' + " + md + " + '], or use resolution NONE or STATIC')"
	return change, others, stuck
}

// matchConstraints are the rule's Match as admission policy resources.
func matchConstraints(m policy.Match) *admissionregistrationv1.MatchResources {
	var ops []admissionregistrationv1.OperationType
	for _, op := range m.Operations {
		switch op {
		case admissionv1.Create:
			ops = append(ops, admissionregistrationv1.Create)
		case admissionv1.Update:
			ops = append(ops, admissionregistrationv1.Update)
		case admissionv1.Delete:
			ops = append(ops, admissionregistrationv1.Delete)
		case admissionv1.Connect:
			ops = append(ops, admissionregistrationv1.Connect)
		}
	}
	var rules []admissionregistrationv1.NamedRuleWithOperations
	for _, k := range m.Kinds {
		rules = append(rules, admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: ops,
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{k.Group}, APIVersions: k.Versions, Resources: []string{k.Resource}},
		}})
	}
	return &admissionregistrationv1.MatchResources{MatchPolicy: ptr.To(admissionregistrationv1.Equivalent), ResourceRules: rules}
}

// bindingMatch leaves out the excluded namespaces by their name label: a
// selector needs no CEL and no parameter, so nothing can stop meshguard's
// own namespace or kube-system from being repaired (Gatekeeper #4530).
func (o Options) bindingMatch() *admissionregistrationv1.MatchResources {
	return &admissionregistrationv1.MatchResources{
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: o.excluded(),
		}}},
	}
}

// gceMetadataAddress compiles gce-metadata-address. In enforce mode a
// MutatingAdmissionPolicy applies the rule's patch (failurePolicy Fail, as
// the webhook's), and a warn-only ValidatingAdmissionPolicy says when an
// entry is left unchanged (it sees the object after mutation, so it cannot
// repeat the change's own warning, nor the advice about other hosts, which
// the webhook gives only when it changes the entry). In audit mode nothing
// mutates: the ValidatingAdmissionPolicy warns and audits the would-be
// change, as the webhook's audit mode does.
func (o Options) gceMetadataAddress(mode policy.Mode) []runtime.Object {
	rule := mutate.GCEMetadataAddress{}
	id := rule.ID()
	name := o.Name + "-" + id
	match := matchConstraints(rule.Match())
	vars := o.gceVariables(id)
	// Only entries naming the metadata server pay for the variables, and
	// only those Istio's CRD admits: bigger lists are refused by its schema
	// after mutation anyway, and would cost the API server CPU out of
	// proportion to their CEL cost units (see serviceEntryMaxItems).
	// The API server evaluates every match condition, so each starts with fits.
	fits := fmt.Sprintf("size(object.?spec.?hosts.orValue([])) <= %[1]d && size(object.?spec.?addresses.orValue([])) <= %[1]d", serviceEntryMaxItems)
	conditions := []admissionregistrationv1.MatchCondition{{
		Name:       "names-the-metadata-server",
		Expression: fits + " && object.?spec.?hosts.orValue([]).exists(h, h in " + metadataNames + ")",
	}, {
		Name:       "may-need-a-change",
		Expression: fits + " && (" + mayChange + ")",
	}}
	change, others, stuck := gceMessages()
	tag := "[" + id + "] "
	var objs []runtime.Object
	validations := []admissionregistrationv1.Validation{}
	actions := []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn}
	if mode == policy.Audit {
		tag += "(audit) "
		actions = append(actions, admissionregistrationv1.Audit)
		validations = append(validations,
			admissionregistrationv1.Validation{Expression: "!variables.apply", MessageExpression: lit(tag+"would change (not applied): ") + " + " + change},
			admissionregistrationv1.Validation{Expression: "!variables.apply || size(variables.others) == 0", MessageExpression: lit(tag) + " + " + others},
		)
	} else {
		objs = append(objs,
			&admissionregistrationv1.MutatingAdmissionPolicy{
				TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicy"},
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
					MatchConstraints: match,
					MatchConditions:  conditions,
					Variables:        usedVariables(vars, gcePatch(id)),
					Mutations: []admissionregistrationv1.Mutation{{
						PatchType: admissionregistrationv1.PatchTypeJSONPatch,
						JSONPatch: &admissionregistrationv1.JSONPatch{Expression: gcePatch(id)},
					}},
					FailurePolicy: ptr.To(admissionregistrationv1.Fail),
					// As the chart's mutating webhook: run again after later mutations.
					ReinvocationPolicy: admissionregistrationv1.IfNeededReinvocationPolicy,
				},
			},
			&admissionregistrationv1.MutatingAdmissionPolicyBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicyBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: name, MatchResources: o.bindingMatch()},
			})
	}
	validations = append(validations, admissionregistrationv1.Validation{Expression: "!variables.stuck", MessageExpression: lit(tag) + " + " + stuck})
	warnWhen := conditions
	if mode != policy.Audit {
		// In enforce mode the policy sees the entry after the mutation and
		// only warns about entries it could not fix (variables.blocked): let
		// every other entry skip its variables, which cost the API server as
		// much again as the mutation's. A superset of blocked, read from the
		// fields alone, in place of may-need-a-change (fixed entries fail both).
		res := "object.?spec.?resolution.orValue('')"
		warnWhen = []admissionregistrationv1.MatchCondition{conditions[0], {
			Name: "may-be-unfixable",
			Expression: fits + " && (" + res + " == 'DYNAMIC_DNS' || (" + res + " in ['DNS', 'DNS_ROUND_ROBIN'] && " +
				"(object.?spec.?addresses.orValue([]).exists(a, a.contains('/')) || object.?spec.?hosts.orValue([]).exists(h, h.contains('/')))))",
		}}
	}
	objs = append(objs,
		&admissionregistrationv1.ValidatingAdmissionPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				// It only warns: a failure to warn must not refuse a write.
				FailurePolicy:    ptr.To(admissionregistrationv1.Ignore),
				MatchConstraints: match,
				MatchConditions:  warnWhen,
				Variables:        usedVariables(vars, validationExpressions(validations)...),
				Validations:      validations,
			},
		},
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name, MatchResources: o.bindingMatch(), ValidationActions: actions},
		})
	return objs
}

// validationExpressions are the expressions and message expressions of vs.
func validationExpressions(vs []admissionregistrationv1.Validation) []string {
	var exprs []string
	for _, v := range vs {
		exprs = append(exprs, v.Expression, v.MessageExpression)
	}
	return exprs
}
