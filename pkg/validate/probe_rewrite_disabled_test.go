package validate

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

const probeDir = "testdata/probe-rewrite-disabled"

// peers is PeerAuthentications over a fixed list.
type peers []mesh.PeerAuthentication

func (p peers) PeerAuthentications(_ context.Context, namespaces ...string) ([]mesh.PeerAuthentication, error) {
	var out []mesh.PeerAuthentication
	for _, pa := range p {
		for _, ns := range namespaces {
			if pa.Namespace == ns {
				out = append(out, pa)
			}
		}
	}
	return out, nil
}

var (
	meshStrict = mesh.PeerAuthentication{Namespace: "istio-system", Name: "default", Mode: mesh.MTLSStrict}
	shopStrict = mesh.PeerAuthentication{Namespace: "shop", Name: "default", Mode: mesh.MTLSStrict}
	shopLoose  = mesh.PeerAuthentication{Namespace: "shop", Name: "default", Mode: mesh.MTLSPermissive}
)

func probeHandler(pas peers) http.Handler {
	rule := ProbeRewriteDisabled{Namespaces: mapLabels{"shop": {"istio-injection": "enabled"}, "plain": {}}, Peers: pas}
	engine := policy.NewEngine(policy.Config{Rules: policy.Rules{Validating: []policy.Validator{rule}}, Modes: policy.Modes{Default: policy.Enforce}, Log: logr.Discard()})
	return &review.Handler{Reviewer: engine, Log: logr.Discard()}
}

func TestProbeRewriteDisabled(t *testing.T) {
	deployment := reviewtest.Load(t, probeDir+"/deployment.yaml")
	tests := map[string]struct {
		pas       peers
		object    []byte
		namespace string
		warnings  []string // substrings; nil: no warning
		absent    []string
	}{
		"STRICT in the namespace warns, naming containers and probes": {
			pas: peers{shopStrict}, object: deployment,
			warnings: []string{`[probe-rewrite-disabled] Deployment "web" in namespace "shop" sets sidecar.istio.io/rewriteAppHTTPProbers: "false"`,
				"PeerAuthentication shop/default, mode STRICT", "never become ready",
				`container "web" readinessProbe (httpGet /ready on port http)`, `container "web" livenessProbe (httpGet /healthz on port 8080)`,
				`container "grpc-api" startupProbe (grpc on port 9090)`, "drop the annotation", "traffic.sidecar.istio.io/excludeInboundPorts"},
			absent: []string{"exec"}},
		"mesh-wide STRICT in the root namespace warns": {
			pas: peers{meshStrict}, object: deployment,
			warnings: []string{"PeerAuthentication istio-system/default, mode STRICT"}},
		"a PERMISSIVE namespace over a STRICT mesh says nothing": {
			pas: peers{meshStrict, shopLoose}, object: deployment},
		"without STRICT, nothing": {
			pas: nil, object: deployment},
		"a port-level DISABLE for every probe port says nothing": {
			pas: peers{{Namespace: "shop", Name: "web", Selector: map[string]string{"app": "web"}, Mode: mesh.MTLSStrict,
				Ports: map[uint32]string{8080: mesh.MTLSDisable, 9090: mesh.MTLSDisable}}}, object: deployment},
		"probe ports excluded from capture say nothing": {
			pas: peers{shopStrict},
			object: []byte(strings.Replace(string(deployment), `sidecar.istio.io/rewriteAppHTTPProbers: "false"`,
				`sidecar.istio.io/rewriteAppHTTPProbers: "false"`+"\n        traffic.sidecar.istio.io/excludeInboundPorts: \"8080, 9090\"", 1))},
		"with rewriting on, nothing": {
			pas:    peers{shopStrict},
			object: []byte(strings.Replace(string(deployment), `rewriteAppHTTPProbers: "false"`, `rewriteAppHTTPProbers: "true"`, 1))},
		"without a sidecar, nothing": {
			pas: peers{shopStrict},
			object: []byte(strings.Replace(string(deployment), `sidecar.istio.io/rewriteAppHTTPProbers: "false"`,
				`sidecar.istio.io/rewriteAppHTTPProbers: "false"`+"\n        sidecar.istio.io/inject: \"false\"", 1))},
		"outside the mesh, nothing": {
			pas: peers{meshStrict}, namespace: "plain",
			object: []byte(strings.ReplaceAll(string(deployment), "namespace: shop", "namespace: plain"))},
		"a CronJob's job template is read": {
			pas: peers{shopStrict}, object: reviewtest.Load(t, probeDir+"/cronjob.yaml"),
			warnings: []string{`CronJob "report"`, `container "report" livenessProbe (httpGet /healthz on port 8081)`}},
		"a Pod its ReplicaSet owns is left to the owner": {
			pas: peers{shopStrict},
			object: []byte(strings.Replace(string(reviewtest.Load(t, probeDir+"/pod.yaml")), "  labels: {app: debug}\n",
				"  labels: {app: debug}\n  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: debug-5d4f, uid: 1c3f, controller: true}]\n", 1))},
		"a bare Pod is read": {
			pas: peers{shopStrict}, object: reviewtest.Load(t, probeDir+"/pod.yaml"),
			warnings: []string{`Pod "debug"`, `container "debug" readinessProbe`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := tc.namespace
			if ns == "" {
				ns = "shop"
			}
			resp := reviewtest.Send(t, probeHandler(tc.pas), reviewtest.Req{Op: admissionv1.Create, Namespace: ns, Object: tc.object})
			if !resp.Allowed {
				t.Fatalf("the rule never denies: %+v", resp.Result)
			}
			reviewtest.Warnings(t, resp.Warnings, tc.warnings, tc.absent)
		})
	}
}
