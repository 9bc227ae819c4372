package server

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshguard/meshguard/pkg/events"
	"github.com/meshguard/meshguard/pkg/policy"
)

// admissionEvents records audit mode's would-deny and would-change findings
// as Events on the object the request writes.
type admissionEvents struct{ r *events.Recorder }

// eventSink is the engine's EventSink over r; nil (no events) when r is.
func eventSink(r *events.Recorder) policy.EventSink {
	if r == nil {
		return nil
	}
	return admissionEvents{r}
}

// WouldAct implements policy.EventSink. An object created with
// generateName has no name yet to attach an Event to: it gets none.
func (a admissionEvents) WouldAct(req *policy.Request, rule string, d policy.Decision, message string) {
	meta, err := req.Meta()
	if err != nil {
		return
	}
	name := req.Name
	if name == "" {
		name = meta.Name
	}
	if name == "" {
		return
	}
	reason, would := events.ReasonWouldDeny, "deny"
	if d == policy.WouldMutate {
		reason, would = events.ReasonWouldChange, "change"
	}
	a.r.Record(corev1.ObjectReference{
		APIVersion: schema.GroupVersion{Group: req.Kind.Group, Version: req.Kind.Version}.String(), Kind: req.Kind.Kind,
		Namespace: req.Namespace, Name: name, UID: types.UID(meta.UID),
	}, reason, "Admission", "["+rule+"] audit mode let this write through; enforce mode would "+would+" it: "+message)
}
