// Package validate holds meshguard's validating rules, one file each.
package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
)

// GatewayAdvice is what to do instead of an Ingress, quoted by several
// messages (and by the compiled admission policy, word for word).
const GatewayAdvice = "expose it with a Gateway API Gateway (gatewayClassName: istio) and an HTTPRoute, or an Istio Gateway and VirtualService"

// The pieces of the denial that the compiled admission policy repeats word
// for word: the static IP note around the quoted IP name, and the convert
// command's endings (by name once stored, else from the manifest).
const (
	StaticIPNotePrefix = "; note that the global static IP "
	StaticIPNoteSuffix = " (" + GlobalStaticIPAnnotation + ") cannot be attached to the Istio ingress gateway's LoadBalancer Service: reserve a regional static IP and set it as the gateway Service's loadBalancerIP, or use GKE Gateway"
	ConvertHintPrefix  = "; `kubectl meshguard convert -n "
	ConvertHintByName  = "` prints the objects that replace it"
	ConvertHintByFile  = " -f FILE` prints the objects that replace it (FILE: this Ingress's manifest)"
)

// IngressInMesh denies Ingresses that bypass the mesh in mesh-enabled namespaces.
type IngressInMesh struct {
	Namespaces mesh.Namespaces
	Classes    IngressClasses
	Mesh       mesh.Options
	// Istio says which Ingresses the mesh's istiod serves.
	Istio IstioIngress
}

// ingressDoc is the part of an Ingress this rule reads.
type ingressDoc struct {
	policy.ObjectHead
	Spec ingressSpec `json:"spec"`
}

// rawSpecDoc keeps spec raw, so an UPDATE can be compared without decoding
// everything; CREATE, the common case, never needs it.
type rawSpecDoc struct {
	policy.ObjectHead
	Spec json.RawMessage `json:"spec"`
}

type ingressSpec struct {
	IngressClassName *string `json:"ingressClassName"`
}

// ID implements policy.Rule.
func (IngressInMesh) ID() string { return "ingress-in-mesh" }

// Match implements policy.Rule: Ingress CREATE and UPDATE in mesh-enabled namespaces.
func (IngressInMesh) Match() policy.Match {
	return policy.One(policy.Kind{Group: "networking.k8s.io", Versions: []string{"v1"}, Resource: "ingresses", Kind: "Ingress"}, policy.Writes, true)
}

// Validate implements policy.Validator.
func (r IngressInMesh) Validate(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	var ing ingressDoc
	if err := req.Decode(&ing); err != nil {
		return nil, err
	}
	status, err := mesh.Lookup(ctx, r.Namespaces, req.Namespace, r.Mesh)
	if err != nil || !status.Meshed {
		return nil, err
	}
	by, err := classResolver{r.Classes, r.Istio}.resolve(ctx, ing.Metadata.Annotations, ing.Spec.IngressClassName)
	if err != nil {
		return nil, err
	}
	name := ing.Metadata.DisplayName()
	if by.istio {
		return []policy.Finding{policy.Warn(fmt.Sprintf(
			"Ingress %q in namespace %q is served by Istio (%s) and works, but Istio recommends the Kubernetes Gateway API: use a Gateway (gatewayClassName: istio) and an HTTPRoute",
			name, req.Namespace, by.desc))}, nil
	}
	if req.Operation == admissionv1.Update {
		same, err := metadataOnlyUpdate(req)
		if err != nil {
			return nil, err
		}
		if same {
			return []policy.Finding{policy.Warn(fmt.Sprintf(
				"Ingress %q in namespace %q is served by %s, outside the Istio mesh (%s); this metadata-only update is allowed so the object can be maintained or removed, but changes to its spec will be denied: %s",
				name, req.Namespace, by.desc, status.Reason, GatewayAdvice))}, nil
		}
	}
	// One buffer for the whole message: denials are the hot path's output.
	var msg strings.Builder
	msg.Grow(1024)
	fmt.Fprintf(&msg, "Ingress %q is not allowed in namespace %q: the namespace is in the Istio mesh (%s) and this Ingress is served by %s, which bypasses mesh routing and mTLS; %s",
		name, req.Namespace, status.Reason, by.desc, GatewayAdvice)
	if ip := ing.Metadata.Annotations[GlobalStaticIPAnnotation]; ip != "" {
		msg.WriteString(StaticIPNotePrefix)
		msg.WriteString(strconv.Quote(ip))
		msg.WriteString(StaticIPNoteSuffix)
	}
	convertHint(&msg, &ing.Metadata, req.Namespace)
	return []policy.Finding{policy.Deny(msg.String())}, nil
}

// convertHint ends a denial with the command that prints the Ingress's
// replacement: by name when the object is in the cluster already (an
// update, the audit), else from the manifest being applied.
func convertHint(msg *strings.Builder, m *policy.Meta, ns string) {
	msg.WriteString(ConvertHintPrefix)
	msg.WriteString(ns)
	if m.ResourceVersion != "" && m.Name != "" {
		msg.WriteString(" ")
		msg.WriteString(m.Name)
		msg.WriteString(ConvertHintByName)
		return
	}
	msg.WriteString(ConvertHintByFile)
}

// metadataOnlyUpdate reports an UPDATE that changes neither spec nor the
// effective class: controllers keep maintaining annotations and finalizers on
// Ingresses that predate the namespace joining the mesh.
func metadataOnlyUpdate(req *policy.Request) (bool, error) {
	var ing, old rawSpecDoc
	if err := req.Decode(&ing); err != nil {
		return false, err
	}
	if err := req.DecodeOld(&old); err != nil {
		return false, err
	}
	var spec, oldSpec ingressSpec
	if err := decodeSpec(ing.Spec, &spec); err != nil {
		return false, err
	}
	if err := decodeSpec(old.Spec, &oldSpec); err != nil {
		return false, err
	}
	if !sameClass(old.Metadata.Annotations, ing.Metadata.Annotations, oldSpec.IngressClassName, spec.IngressClassName) {
		return false, nil
	}
	if bytes.Equal(old.Spec, ing.Spec) {
		return true, nil
	}
	var a, b any
	if err := policy.Unmarshal(old.Spec, &a); err != nil {
		return false, fmt.Errorf("%w: oldObject spec: %v", policy.ErrBadObject, err)
	}
	if err := policy.Unmarshal(ing.Spec, &b); err != nil {
		return false, fmt.Errorf("%w: object spec: %v", policy.ErrBadObject, err)
	}
	return reflect.DeepEqual(a, b), nil
}

func decodeSpec(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := policy.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: spec does not decode: %v", policy.ErrBadObject, err)
	}
	return nil
}
