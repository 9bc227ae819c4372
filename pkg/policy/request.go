package policy

import (
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
)

// ErrBadObject marks input that is not what the request declares (an object
// that does not decode as its kind, a missing object). The HTTP layer answers
// it with a 4xx status so the webhook's failurePolicy decides, never a denial.
var ErrBadObject = errors.New("bad admission object")

// Meta is the part of an object's metadata that every rule and the exemption
// logic need; it is decoded at most once per object.
type Meta struct {
	Name         string `json:"name"`
	GenerateName string `json:"generateName"`
	Namespace    string `json:"namespace"`
	// UID is set on updates, and on creates once the object is named
	// (validating admission); mutating admission of a create has none.
	UID string `json:"uid"`
	// ResourceVersion is set on objects stored already (updates, the
	// audit's), never on a create.
	ResourceVersion string            `json:"resourceVersion"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
	// OwnerReferences are read only for whether a controller owns the object.
	OwnerReferences []struct {
		Controller *bool `json:"controller"`
	} `json:"ownerReferences"`
}

// Controlled reports whether a controller owns the object (a ReplicaSet of a
// Deployment, a Pod of a ReplicaSet or Job).
func (m *Meta) Controlled() bool {
	for _, o := range m.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

// DisplayName is the name to quote in messages; objects created with
// generateName have no name yet at admission time.
func (m *Meta) DisplayName() string {
	if m.Name == "" && m.GenerateName != "" {
		return m.GenerateName + "*"
	}
	return m.Name
}

// ObjectHead is embedded by the documents rules decode objects into
// (`struct{ policy.ObjectHead; Spec json.RawMessage }`): the metadata a rule
// decodes is then reused for exemptions and patches instead of decoding the
// object a second time.
type ObjectHead struct {
	Metadata Meta `json:"metadata"`
}

func (h *ObjectHead) head() *ObjectHead { return h }

// Request is one admission request as rules see it: decoded once by the HTTP
// layer, with the object kept as raw JSON so each rule decodes only the
// fields it needs and unknown fields survive mutation.
type Request struct {
	*admissionv1.AdmissionRequest

	meta, oldMeta *Meta
}

// NewRequest wraps a decoded AdmissionRequest.
func NewRequest(r *admissionv1.AdmissionRequest) *Request {
	return &Request{AdmissionRequest: r}
}

// IsKind reports whether the request is for the given group and kind (any version).
func (r *Request) IsKind(group, kind string) bool {
	return r.Kind.Group == group && r.Kind.Kind == kind
}

// IsWrite reports whether the request creates or updates an object; DELETE and
// CONNECT are never intercepted by meshguard rules.
func (r *Request) IsWrite() bool {
	return r.Operation == admissionv1.Create || r.Operation == admissionv1.Update
}

// IsDryRun reports a dry-run request: evaluated and answered as usual, but not
// counted as a real decision.
func (r *Request) IsDryRun() bool { return r.DryRun != nil && *r.DryRun }

// Meta returns the new object's metadata.
func (r *Request) Meta() (*Meta, error) {
	if r.meta == nil {
		m, err := decodeMeta(r.Object.Raw, "object", r)
		if err != nil {
			return nil, err
		}
		r.meta = m
	}
	return r.meta, nil
}

// OldMeta returns the old object's metadata (UPDATE only).
func (r *Request) OldMeta() (*Meta, error) {
	if r.oldMeta == nil {
		m, err := decodeMeta(r.OldObject.Raw, "oldObject", r)
		if err != nil {
			return nil, err
		}
		r.oldMeta = m
	}
	return r.oldMeta, nil
}

// Decode unmarshals the new object into v, reporting failures as ErrBadObject.
// When v embeds ObjectHead, its metadata also answers Meta.
func (r *Request) Decode(v any) error {
	if err := r.decode(r.Object.Raw, "object", v); err != nil {
		return err
	}
	if h, ok := v.(interface{ head() *ObjectHead }); ok {
		r.meta = &h.head().Metadata
	}
	return nil
}

// DecodeOld unmarshals the old object into v (UPDATE only); like Decode, an
// embedded ObjectHead also answers OldMeta.
func (r *Request) DecodeOld(v any) error {
	if err := r.decode(r.OldObject.Raw, "oldObject", v); err != nil {
		return err
	}
	if h, ok := v.(interface{ head() *ObjectHead }); ok {
		r.oldMeta = &h.head().Metadata
	}
	return nil
}

func (r *Request) decode(raw []byte, field string, v any) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: request.%s is missing for %s of %s", ErrBadObject, field, r.Operation, r.Kind.Kind)
	}
	if err := Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: request.%s does not decode as %s: %v", ErrBadObject, field, r.Kind.Kind, err)
	}
	return nil
}

func decodeMeta(raw []byte, field string, r *Request) (*Meta, error) {
	var obj ObjectHead
	if err := r.decode(raw, field, &obj); err != nil {
		return nil, err
	}
	return &obj.Metadata, nil
}
