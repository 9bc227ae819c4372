package policy

import (
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
)

// Match declares which requests a rule reviews. It is data: the engine
// derives from it which requests reach the rule, the audit which kinds it
// watches, and the chart's tests which webhook rules the chart must register.
type Match struct {
	// Kinds are the objects the rule reviews.
	Kinds []Kind
	// Operations are the admission operations reviewed.
	Operations []admissionv1.Operation
	// MeshOnly says the rule acts only on objects in mesh-enabled
	// namespaces: the chart sends it only those (one entry per mesh
	// selector), and the audit reads no such object outside the mesh.
	MeshOnly bool
}

// Kind is one kind of object a rule reviews.
type Kind struct {
	// Group is the API group ("" for the core group).
	Group string
	// Versions are the served versions the rule reads, preferred first.
	Versions []string
	// Resource is the plural resource name of the webhook rule; Kind is the
	// kind of the review's object.
	Resource, Kind string
}

// Writes are CREATE and UPDATE; meshguard's rules never review DELETE or CONNECT.
var Writes = []admissionv1.Operation{admissionv1.Create, admissionv1.Update}

// Covers reports whether the request is one the rule reviews.
func (m Match) Covers(req *Request) bool {
	if !slices.Contains(m.Operations, req.Operation) {
		return false
	}
	for i := range m.Kinds {
		k := &m.Kinds[i]
		if req.Kind.Kind == k.Kind && req.Kind.Group == k.Group && slices.Contains(k.Versions, req.Kind.Version) {
			return true
		}
	}
	return false
}

// One is the Match of a rule on a single kind.
func One(k Kind, ops []admissionv1.Operation, meshOnly bool) Match {
	return Match{Kinds: []Kind{k}, Operations: ops, MeshOnly: meshOnly}
}
