package mutate

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/meshguard/meshguard/pkg/policy"
)

// The file-mounted certificates of Istio's ingress gateway before SDS, and
// the Secrets that fed them: the chart of those days mounted the Secret
// istio-ingressgateway-certs at the first path, istio-ingressgateway-ca-certs
// at the second.
const (
	legacyCertDir      = "/etc/istio/ingressgateway-certs/"
	legacyCADir        = "/etc/istio/ingressgateway-ca-certs/"
	LegacyCertSecret   = "istio-ingressgateway-certs"
	legacyCASecret     = "istio-ingressgateway-ca-certs"
	legacyCert         = legacyCertDir + "tls.crt"
	legacyKey          = legacyCertDir + "tls.key"
	sdsWhy             = "Istio's gateways read certificates from Secrets through SDS (credentialName) by default since 1.6, and today's gateway deployments no longer mount " + LegacyCertSecret + " as files, so a server reading them serves no certificate"
	credentialNameHelp = "credentialName names a Secret (type kubernetes.io/tls, with ca.crt for MUTUAL) in the gateway deployment's namespace"
)

// GatewayCredentialName moves Istio Gateway servers off the file-mounted
// certificates of the story: a SIMPLE server with exactly the legacy
// certificate and key paths (and no credentialName) gets
// credentialName: istio-ingressgateway-certs instead, the same Secret
// through SDS. Any other file path is left as written and warned about.
type GatewayCredentialName struct{}

// gateway is the part of an Istio Gateway this rule reads.
type gateway struct {
	policy.ObjectHead
	Spec struct {
		Servers []gatewayServer `json:"servers"`
	} `json:"spec"`
}

type gatewayServer struct {
	Port *struct {
		Number uint32 `json:"number"`
		Name   string `json:"name"`
	} `json:"port"`
	TLS *struct {
		Mode              string   `json:"mode"`
		ServerCertificate string   `json:"serverCertificate"`
		PrivateKey        string   `json:"privateKey"`
		CaCertificates    string   `json:"caCertificates"`
		CredentialName    string   `json:"credentialName"`
		CredentialNames   []string `json:"credentialNames"`
	} `json:"tls"`
}

// ID implements policy.Rule.
func (GatewayCredentialName) ID() string { return "gateway-credential-name" }

// Match implements policy.Rule: Istio Gateway CREATE and UPDATE in every
// served version and every namespace (gateways usually live in istio-system,
// outside the mesh-enabled namespaces).
func (GatewayCredentialName) Match() policy.Match {
	return policy.One(policy.Kind{Group: "networking.istio.io", Versions: []string{"v1", "v1beta1", "v1alpha3"}, Resource: "gateways",
		Kind: "Gateway"}, policy.Writes, false)
}

// Mutate implements policy.Mutator.
func (GatewayCredentialName) Mutate(_ context.Context, req *policy.Request) ([]policy.Finding, error) {
	var gw gateway
	if err := req.Decode(&gw); err != nil {
		return nil, err
	}
	name := gw.Metadata.DisplayName()
	var findings []policy.Finding
	for i, s := range gw.Spec.Servers {
		tls := s.TLS
		if tls == nil || tls.CredentialName != "" || len(tls.CredentialNames) > 0 {
			continue
		}
		where := fmt.Sprintf("Gateway %q server %d%s", name, i, s.describePort())
		if tls.Mode == "SIMPLE" && tls.ServerCertificate == legacyCert && tls.PrivateKey == legacyKey && tls.CaCertificates == "" {
			tlsPath := func(field string) string { return policy.Pointer("spec", "servers", strconv.Itoa(i), "tls", field) }
			findings = append(findings, policy.Finding{
				Severity: policy.Change,
				Message: fmt.Sprintf("%s: serverCertificate %s and privateKey %s → credentialName: %s, the same Secret through SDS (%s); make the same change in your source manifest, and keep the Secret %s in the gateway deployment's namespace",
					where, legacyCert, legacyKey, LegacyCertSecret, sdsWhy, LegacyCertSecret),
				Patch: []jsonpatch.Operation{
					jsonpatch.NewOperation("remove", tlsPath("serverCertificate"), nil),
					jsonpatch.NewOperation("remove", tlsPath("privateKey"), nil),
					jsonpatch.NewOperation("add", tlsPath("credentialName"), LegacyCertSecret),
				},
			})
			continue
		}
		if paths := s.filePaths(); paths != "" {
			findings = append(findings, policy.Warn(fmt.Sprintf(
				"%s reads its certificates from files (%s), left as written: %s; use credentialName: %s instead (%s)",
				where, paths, sdsWhy, s.suggestedSecret(), credentialNameHelp)))
		}
	}
	return findings, nil
}

// describePort names the server's port for messages, as far as it is set.
func (s gatewayServer) describePort() string {
	switch {
	case s.Port == nil:
		return ""
	case s.Port.Name != "":
		return fmt.Sprintf(" (port %d, %s)", s.Port.Number, s.Port.Name)
	}
	return fmt.Sprintf(" (port %d)", s.Port.Number)
}

// filePaths lists the server's TLS file paths as "field path" pairs.
func (s gatewayServer) filePaths() string {
	var parts []string
	for _, f := range []struct{ field, path string }{
		{"serverCertificate", s.TLS.ServerCertificate}, {"privateKey", s.TLS.PrivateKey}, {"caCertificates", s.TLS.CaCertificates},
	} {
		if f.path != "" {
			parts = append(parts, f.field+" "+f.path)
		}
	}
	return strings.Join(parts, ", ")
}

// suggestedSecret is the credentialName that matches the files: the Secret
// the legacy mount came from, or a placeholder the user fills in.
func (s gatewayServer) suggestedSecret() string {
	cert := strings.HasPrefix(s.TLS.ServerCertificate, legacyCertDir) || strings.HasPrefix(s.TLS.PrivateKey, legacyCertDir)
	ca := strings.HasPrefix(s.TLS.CaCertificates, legacyCADir)
	switch {
	case cert && ca:
		return LegacyCertSecret + " (with the CA of " + legacyCASecret + " added as ca.crt, or in a Secret " + LegacyCertSecret + "-cacert)"
	case cert:
		return LegacyCertSecret
	case ca:
		return "the server certificate's Secret, with the CA of " + legacyCASecret + " added as ca.crt"
	}
	return "<a Secret holding this certificate and key>"
}
