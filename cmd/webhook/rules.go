package main

import (
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
)

// rules is THE list of meshguard's rules. Adding a rule is one file in
// pkg/validate or pkg/mutate, its test, and one line here (plus a webhook rule
// in the chart when it needs a new kind).
func rules(c cluster.Reader, m mesh.Options) (validating, mutating []policy.Rule) {
	validating = []policy.Rule{
		validate.IngressInMesh{Namespaces: c, Classes: c, Mesh: m},
		validate.NamespaceJoinsMesh{Ingresses: c, Classes: c, Mesh: m},
	}
	mutating = []policy.Rule{
		mutate.NginxHTTP11{Namespaces: c, Mesh: m},
		mutate.GCEMetadataAddress{},
	}
	return validating, mutating
}

// ruleIDs lists every rule's ID, for validating --rule-mode.
func ruleIDs() []string {
	v, m := rules(cluster.Reader{}, mesh.Options{})
	var ids []string
	for _, r := range append(v, m...) {
		ids = append(ids, r.ID())
	}
	return ids
}
