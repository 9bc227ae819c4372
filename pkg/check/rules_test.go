package check

import (
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
)

// testRules are the server's rules, wired as cmd/webhook's rules.go wires
// them with the default mesh options: --fix is tested on what it will write.
func testRules(c cluster.Reader) policy.Rules {
	return policy.Rules{
		Validating: []policy.Validator{
			validate.IngressInMesh{Namespaces: c, Classes: c},
			validate.NamespaceJoinsMesh{Ingresses: c, Classes: c},
		},
		Mutating: []policy.Mutator{
			mutate.NginxHTTP11{Namespaces: c},
			mutate.GCEMetadataAddress{},
		},
	}
}
