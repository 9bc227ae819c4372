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

// Response renders the verdict as the AdmissionResponse (UID not set)
// within the engine's limits: each rule's findings tagged with its ID and
// mode, as denials, warnings and audit annotations, capped in number and
// size; the enforced changes as one JSON patch.
func (v *Verdict) Response(req *Request) (*admissionv1.AdmissionResponse, error) {
	l := v.limits
	denials, warnings := capped{limit: l.Warnings}, capped{limit: l.Warnings}
	var audit annotations
	for i := range v.Rules {
		r := &v.Rules[i]
		if r.Exemption.Granted || len(r.Findings) == 0 {
			continue
		}
		tag := "[" + r.ID + "] "
		if r.Mode == Audit {
			tag = "[" + r.ID + "] (audit) "
		}
		for _, f := range r.Findings {
			switch f.Severity {
			case Violation:
				msg := r.Message(f)
				if r.Mode == Enforce {
					denials.add(r.ID, l.clipMessage(tag+msg))
					continue
				}
				warnings.add(r.ID, l.clipMessage(tag+"would deny: "+msg))
				audit.add(r.ID, "would deny: "+msg, l)
			case Change:
				if r.Mode == Enforce {
					warnings.add(r.ID, l.clipMessage(tag+f.Message))
					continue
				}
				warnings.add(r.ID, l.clipMessage(tag+"would change (not applied): "+f.Message))
				audit.add(r.ID, "would change: "+f.Message, l)
			case Advice:
				warnings.add(r.ID, l.clipMessage(tag+f.Message))
			}
		}
	}
	resp := &admissionv1.AdmissionResponse{Allowed: true, Warnings: warnings.list("warnings"), AuditAnnotations: audit.values(l)}
	if denials := denials.list("denials"); len(denials) > 0 {
		resp.Allowed = false
		resp.Result = &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: strings.Join(denials, "; "),
		}
		return resp, nil
	}
	patch, err := v.encodedPatch(req)
	if err != nil {
		return nil, err
	}
	if patch == nil {
		return resp, nil
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	return resp, nil
}

// Patch is the JSON patch the response carries: the enforced changes and
// the meshguard.dev/mutated annotation naming their rules; nil when nothing
// changes or the request is denied.
func (v *Verdict) Patch(req *Request) ([]byte, error) {
	if v.Denied() {
		return nil, nil
	}
	return v.encodedPatch(req)
}

func (v *Verdict) encodedPatch(req *Request) ([]byte, error) {
	if len(v.patch) == 0 {
		return nil, nil
	}
	meta, err := req.Meta()
	if err != nil {
		return nil, err
	}
	var mutatedBy []string
	for i := range v.Rules {
		if id := v.Rules[i].ID; v.Rules[i].changes() && !slices.Contains(mutatedBy, id) {
			mutatedBy = append(mutatedBy, id)
		}
	}
	last, err := encodeOp(mutatedAnnotationOp(meta.Annotations, mutatedBy))
	if err != nil {
		return nil, err
	}
	patch := make([]byte, 0, v.patchLen+len(last)+2)
	patch = append(patch, '[')
	for _, op := range v.patch {
		patch = append(append(patch, op...), ',')
	}
	return append(append(patch, last...), ']'), nil
}

// annotations are the audit annotations of audit-mode rules, one per rule.
type annotations map[string]*annotation

// annotation is the audit annotation value of one rule: its messages joined
// by "; ", within the message limit.
type annotation struct {
	b       strings.Builder
	omitted int
}

func (a *annotations) add(rule, msg string, l Limits) {
	if *a == nil {
		*a = annotations{}
	}
	an := (*a)[rule]
	if an == nil {
		an = &annotation{}
		(*a)[rule] = an
	}
	switch {
	case an.omitted > 0 || l.MessageBytes > 0 && an.b.Len() >= l.MessageBytes:
		an.omitted++
	case an.b.Len() > 0:
		an.b.WriteString("; ")
		fallthrough
	default:
		an.b.WriteString(msg)
	}
}

func (a annotations) values(l Limits) map[string]string {
	if a == nil {
		return nil
	}
	out := make(map[string]string, len(a))
	for rule, an := range a {
		v := l.clipMessage(an.b.String())
		if an.omitted > 0 {
			v += "; and " + strconv.Itoa(an.omitted) + " more"
		}
		out[rule] = v
	}
	return out
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
	return jsonpatch.NewOperation("add", Pointer("metadata", "annotations", MutatedAnnotation), strings.Join(all, ","))
}
