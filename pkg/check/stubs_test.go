package check

import (
	"context"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
)

// The stubs below stand in for the mutating rules in this package's tests:
// they emit the same shapes of JSON patch (replace /data/<key>,
// replace /spec/hosts, add /spec/addresses, add /spec/endpoints) so the runner
// and --fix are tested without depending on the real rules' details.

// stubNginx inserts "proxy_http_version 1.1;" before every proxy_pass line of
// ConfigMaps in mesh-enabled namespaces, like nginx-http11.
type stubNginx struct{ ns mesh.Namespaces }

func (stubNginx) ID() string { return "nginx-http11" }

func (stubNginx) Match() policy.Match { return mutate.NginxHTTP11{}.Match() }

var proxyPass = regexp.MustCompile(`(?m)^([ \t]*)(proxy_pass )`)

func (s stubNginx) Mutate(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := req.Decode(&cm); err != nil {
		return nil, err
	}
	var keys []string
	for k, v := range cm.Data {
		if strings.Contains(v, "proxy_pass") && !strings.Contains(v, "proxy_http_version") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	status, err := mesh.Lookup(ctx, s.ns, req.Namespace, mesh.Options{})
	if err != nil || !status.Meshed {
		return nil, err
	}
	slices.Sort(keys)
	var out []policy.Finding
	for _, k := range keys {
		v := proxyPass.ReplaceAllString(cm.Data[k], "${1}proxy_http_version 1.1;\n${1}${2}")
		if !strings.Contains(v, "proxy_http_version") {
			v = strings.Replace(cm.Data[k], "proxy_pass ", "proxy_http_version 1.1; proxy_pass ", 1)
		}
		out = append(out, policy.Finding{Severity: policy.Change, Message: "key " + k + ": insert proxy_http_version 1.1",
			Patch: []jsonpatch.Operation{jsonpatch.NewOperation("replace", "/data/"+strings.ReplaceAll(k, "/", "~1"), v)}})
	}
	return out, nil
}

// stubMetadata moves IP literals out of a metadata ServiceEntry's hosts into
// its addresses and gives a STATIC one an endpoint, like gce-metadata-address.
type stubMetadata struct{}

func (stubMetadata) ID() string { return "gce-metadata-address" }

func (stubMetadata) Match() policy.Match { return mutate.GCEMetadataAddress{}.Match() }

func (stubMetadata) Mutate(_ context.Context, req *policy.Request) ([]policy.Finding, error) {
	var se struct {
		Spec struct {
			Hosts      []string `json:"hosts"`
			Addresses  []string `json:"addresses"`
			Resolution string   `json:"resolution"`
			Endpoints  []any    `json:"endpoints"`
		} `json:"spec"`
	}
	if err := req.Decode(&se); err != nil {
		return nil, err
	}
	if !slices.Contains(se.Spec.Hosts, "metadata.google.internal") {
		return nil, nil
	}
	var hosts []string
	addresses := slices.Clone(se.Spec.Addresses)
	for _, h := range se.Spec.Hosts {
		if _, err := netip.ParseAddr(h); err == nil {
			if !slices.Contains(addresses, h) {
				addresses = append(addresses, h)
			}
			continue
		}
		hosts = append(hosts, h)
	}
	if !slices.Contains(addresses, "169.254.169.254") {
		addresses = append(addresses, "169.254.169.254")
	}
	var ops []jsonpatch.Operation
	if len(hosts) != len(se.Spec.Hosts) {
		ops = append(ops, jsonpatch.NewOperation("replace", "/spec/hosts", hosts))
	}
	if !slices.Equal(addresses, se.Spec.Addresses) {
		op := "add"
		if se.Spec.Addresses != nil {
			op = "replace"
		}
		ops = append(ops, jsonpatch.NewOperation(op, "/spec/addresses", addresses))
	}
	if se.Spec.Resolution == "STATIC" && len(se.Spec.Endpoints) == 0 {
		ops = append(ops, jsonpatch.NewOperation("add", "/spec/endpoints", []map[string]string{{"address": "169.254.169.254"}}))
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return []policy.Finding{{Severity: policy.Change, Message: "declare 169.254.169.254 in spec.addresses", Patch: ops}}, nil
}

// testRules are the real validating rules and the stub mutating rules.
func testRules(c cluster.Reader) policy.Rules {
	return policy.Rules{
		Validating: []policy.Validator{
			validate.IngressInMesh{Namespaces: c, Classes: c},
			validate.NamespaceJoinsMesh{Ingresses: c, Classes: c},
		},
		Mutating: []policy.Mutator{stubNginx{ns: c}, stubMetadata{}},
	}
}
