package policy

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MutatedAnnotation lists the rules that changed an object, so GitOps tools
// can be told to ignore the difference.
const MutatedAnnotation = "meshguard.dev/mutated"

// outcome collects what every rule found on one request; response turns it
// into the single AdmissionResponse within the limits.
type outcome struct {
	limits    Limits
	denials   capped
	warnings  capped
	audit     map[string]*annotation
	patch     [][]byte // JSON patch operations, each encoded once
	patchLen  int
	mutatedBy []string
}

func newOutcome(l Limits) outcome {
	return outcome{limits: l, denials: capped{limit: l.Warnings}, warnings: capped{limit: l.Warnings}}
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
			o.denials.add(rule, o.limits.clipMessage(tag+msg))
			return Denied
		}
		o.warnings.add(rule, o.limits.clipMessage(tag+"would deny: "+msg))
		o.annotate(rule, "would deny: "+msg)
		return WouldDeny
	case Change:
		if mode == Enforce {
			o.warnings.add(rule, o.limits.clipMessage(tag+f.Message))
			if !slices.Contains(o.mutatedBy, rule) {
				o.mutatedBy = append(o.mutatedBy, rule)
			}
			return Mutated
		}
		o.warnings.add(rule, o.limits.clipMessage(tag+"would change (not applied): "+f.Message))
		o.annotate(rule, "would change: "+f.Message)
		return WouldMutate
	case Advice:
		o.warnings.add(rule, o.limits.clipMessage(tag+f.Message))
	}
	return Allowed
}

// annotation is the audit annotation value of one rule: its messages joined
// by "; ", within the message limit.
type annotation struct {
	b       strings.Builder
	omitted int
}

func (o *outcome) annotate(rule, msg string) {
	if o.audit == nil {
		o.audit = map[string]*annotation{}
	}
	a := o.audit[rule]
	if a == nil {
		a = &annotation{}
		o.audit[rule] = a
	}
	switch {
	case a.omitted > 0 || o.limits.MessageBytes > 0 && a.b.Len() >= o.limits.MessageBytes:
		a.omitted++
	case a.b.Len() > 0:
		a.b.WriteString("; ")
		fallthrough
	default:
		a.b.WriteString(msg)
	}
}

func (o *outcome) annotations() map[string]string {
	if o.audit == nil {
		return nil
	}
	out := make(map[string]string, len(o.audit))
	for rule, a := range o.audit {
		v := o.limits.clipMessage(a.b.String())
		if a.omitted > 0 {
			v += "; and " + strconv.Itoa(a.omitted) + " more"
		}
		out[rule] = v
	}
	return out
}

// encodePatch encodes a rule's patch operations and says whether they fit
// within the patch limit beside what earlier rules added; ops that do not
// fit are not kept.
func (o *outcome) encodePatch(ops []jsonpatch.Operation) (fits bool, size int, err error) {
	enc := make([][]byte, len(ops))
	for i, op := range ops {
		if enc[i], err = encodeOp(op); err != nil {
			return false, 0, err
		}
		size += len(enc[i]) + 1
	}
	if o.limits.PatchBytes > 0 && o.patchLen+size > o.limits.PatchBytes {
		return false, size, nil
	}
	o.patch = append(o.patch, enc...)
	o.patchLen += size
	return true, size, nil
}

func (o *outcome) response(req *Request) (*admissionv1.AdmissionResponse, error) {
	resp := &admissionv1.AdmissionResponse{Allowed: true, Warnings: o.warnings.list("warnings"), AuditAnnotations: o.annotations()}
	if denials := o.denials.list("denials"); len(denials) > 0 {
		resp.Allowed = false
		resp.Result = &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: strings.Join(denials, "; "),
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
	last, err := encodeOp(mutatedAnnotationOp(meta.Annotations, o.mutatedBy))
	if err != nil {
		return nil, err
	}
	patch := make([]byte, 0, o.patchLen+len(last)+2)
	patch = append(patch, '[')
	for _, op := range o.patch {
		patch = append(append(patch, op...), ',')
	}
	patch = append(append(patch, last...), ']')
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

// encodeOp encodes one operation as it is sent.
func encodeOp(op jsonpatch.Operation) ([]byte, error) {
	if op.Operation == "remove" {
		return json.Marshal(wireRemove{op.Operation, op.Path})
	}
	return json.Marshal(wireOp{op.Operation, op.Path, op.Value})
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
