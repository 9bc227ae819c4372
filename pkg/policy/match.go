package policy

import (
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
)

// Match declares which requests a rule reviews. It is data: the engine
// derives from it which requests reach the rule, the audit which kinds it
// watches, and the chart's tests which webhook rules the chart must register.
type Match struct {
	// Group is the API group ("" for the core group).
	Group string
	// Versions are the served versions the rule reads.
	Versions []string
	// Resource is the plural resource name of the webhook rule; Kind is the
	// kind of the review's object.
	Resource, Kind string
	// Operations are the admission operations reviewed.
	Operations []admissionv1.Operation
	// MeshOnly says the rule acts only on objects in mesh-enabled
	// namespaces: the chart sends it only those (one entry per mesh
	// selector), and the audit reads no such object outside the mesh.
	MeshOnly bool
}

// Writes are CREATE and UPDATE; meshguard's rules never review DELETE or CONNECT.
var Writes = []admissionv1.Operation{admissionv1.Create, admissionv1.Update}

// Covers reports whether the request is one the rule reviews.
func (m Match) Covers(req *Request) bool {
	return req.Kind.Group == m.Group && req.Kind.Kind == m.Kind &&
		slices.Contains(m.Versions, req.Kind.Version) && slices.Contains(m.Operations, req.Operation)
}

// APIVersion is the apiVersion of the match's first (preferred) version.
func (m Match) APIVersion() string {
	if m.Group == "" {
		return m.Versions[0]
	}
	return m.Group + "/" + m.Versions[0]
}
