package policy

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MutatedAnnotation lists the rules that changed an object, so GitOps tools
// can be told to ignore the difference.
const MutatedAnnotation = "meshguard.dev/mutated"

// outcome collects what every rule found on one request; response turns it
// into the single AdmissionResponse.
type outcome struct {
	denials   []string
	warnings  []string
	audit     map[string]string
	patch     []jsonpatch.Operation
	mutatedBy []string
}

// add records one finding according to the mode and returns the decision it implies.
func (o *outcome) add(rule string, mode Mode, f Finding, exemptNote string) Decision {
	tag := "[" + rule + "] "
	if mode == Audit {
		tag = "[" + rule + "] (audit) "
	}
	switch f.Severity {
	case Violation:
		msg := f.Message
		if exemptNote != "" {
			msg += " " + exemptNote
		}
		if mode == Enforce {
			o.denials = append(o.denials, tag+msg)
			return Denied
		}
		o.warnings = append(o.warnings, tag+"would deny: "+msg)
		o.annotate(rule, "would deny: "+msg)
		return WouldDeny
	case Change:
		if mode == Enforce {
			o.warnings = append(o.warnings, tag+f.Message)
			o.patch = append(o.patch, f.Patch...)
			if !slices.Contains(o.mutatedBy, rule) {
				o.mutatedBy = append(o.mutatedBy, rule)
			}
			return Mutated
		}
		o.warnings = append(o.warnings, tag+"would change (not applied): "+f.Message)
		o.annotate(rule, "would change: "+f.Message)
		return WouldMutate
	case Advice:
		o.warnings = append(o.warnings, tag+f.Message)
	}
	return Allowed
}

func (o *outcome) annotate(rule, msg string) {
	if o.audit == nil {
		o.audit = map[string]string{}
	}
	if prev, ok := o.audit[rule]; ok {
		msg = prev + "; " + msg
	}
	o.audit[rule] = msg
}

func (o *outcome) response(req *Request) (*admissionv1.AdmissionResponse, error) {
	resp := &admissionv1.AdmissionResponse{Allowed: true, Warnings: o.warnings, AuditAnnotations: o.audit}
	if len(o.denials) > 0 {
		resp.Allowed = false
		resp.Result = &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: strings.Join(o.denials, "; "),
		}
		return resp, nil
	}
	if len(o.patch) == 0 {
		return resp, nil
	}
	meta, err := req.Meta()
	if err != nil {
		return nil, err
	}
	patch, err := marshalPatch(append(o.patch, mutatedAnnotationOp(meta.Annotations, o.mutatedBy)))
	if err != nil {
		return nil, err
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	return resp, nil
}

// wireOp is a JSON patch operation as sent; marshalling it directly avoids
// jsonpatch.Operation's MarshalJSON, which encodes every operation twice.
type wireOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// wireRemove is an operation without a value (RFC 6902 remove).
type wireRemove struct {
	Op   string `json:"op"`
	Path string `json:"path"`
}

func marshalPatch(ops []jsonpatch.Operation) ([]byte, error) {
	wire := make([]any, len(ops))
	for i, op := range ops {
		if op.Operation == "remove" {
			wire[i] = wireRemove{op.Operation, op.Path}
		} else {
			wire[i] = wireOp{op.Operation, op.Path, op.Value}
		}
	}
	return json.Marshal(wire)
}

// mutatedAnnotationOp records the mutating rules on the object, merged with any
// rules recorded by an earlier pass (reinvocation) so none is lost.
func mutatedAnnotationOp(annotations map[string]string, rules []string) jsonpatch.Operation {
	if annotations == nil {
		return jsonpatch.NewOperation("add", "/metadata/annotations", map[string]string{MutatedAnnotation: strings.Join(rules, ",")})
	}
	all := []string{}
	for r := range strings.SplitSeq(annotations[MutatedAnnotation], ",") {
		if r = strings.TrimSpace(r); r != "" && !slices.Contains(all, r) {
			all = append(all, r)
		}
	}
	for _, r := range rules {
		if !slices.Contains(all, r) {
			all = append(all, r)
		}
	}
	return jsonpatch.NewOperation("add", "/metadata/annotations/"+escapePointer(MutatedAnnotation), strings.Join(all, ","))
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
