package mesh

import (
	"testing"
	"time"
)

func TestInboundMTLSFollowsIstiosPrecedence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pa := func(ns, name string, age int, sel map[string]string, mode string, ports map[uint32]string) PeerAuthentication {
		return PeerAuthentication{Namespace: ns, Name: name, Created: t0.Add(time.Duration(age) * time.Hour), Selector: sel, Mode: mode, Ports: ports}
	}
	web := map[string]string{"app": "web"}
	tests := map[string]struct {
		pas  []PeerAuthentication
		port uint32
		want MTLS
	}{
		"nothing: Istio's default":                {nil, 8080, MTLS{Mode: MTLSPermissive}},
		"mesh-wide STRICT in the root":            {[]PeerAuthentication{pa("istio-system", "default", 0, nil, MTLSStrict, nil)}, 8080, MTLS{MTLSStrict, "istio-system/default"}},
		"a selector in the root is not mesh-wide": {[]PeerAuthentication{pa("istio-system", "gw", 0, web, MTLSStrict, nil)}, 8080, MTLS{Mode: MTLSPermissive}},
		"the namespace overrides the mesh": {[]PeerAuthentication{
			pa("istio-system", "default", 0, nil, MTLSStrict, nil), pa("shop", "default", 0, nil, MTLSPermissive, nil)}, 8080, MTLS{MTLSPermissive, "shop/default"}},
		"UNSET inherits": {[]PeerAuthentication{
			pa("istio-system", "default", 0, nil, MTLSStrict, nil), pa("shop", "default", 0, nil, MTLSUnset, nil)}, 8080, MTLS{MTLSStrict, "istio-system/default"}},
		"the workload overrides the namespace": {[]PeerAuthentication{
			pa("shop", "default", 0, nil, MTLSStrict, nil), pa("shop", "web", 0, web, MTLSDisable, nil)}, 8080, MTLS{MTLSDisable, "shop/web"}},
		"a selector for other workloads does not apply": {[]PeerAuthentication{
			pa("shop", "default", 0, nil, MTLSStrict, nil), pa("shop", "db", 0, map[string]string{"app": "db"}, MTLSDisable, nil)}, 8080, MTLS{MTLSStrict, "shop/default"}},
		"a port-level mode wins for its port": {[]PeerAuthentication{
			pa("shop", "web", 0, web, MTLSStrict, map[uint32]string{8081: MTLSDisable})}, 8081, MTLS{MTLSDisable, "shop/web (port 8081)"}},
		"and only for its port": {[]PeerAuthentication{
			pa("shop", "web", 0, web, MTLSStrict, map[uint32]string{8081: MTLSDisable})}, 8080, MTLS{MTLSStrict, "shop/web"}},
		"the oldest namespace-wide one wins": {[]PeerAuthentication{
			pa("shop", "newer", 2, nil, MTLSPermissive, nil), pa("shop", "older", 1, nil, MTLSStrict, nil)}, 8080, MTLS{MTLSStrict, "shop/older"}},
		"another namespace's policy does not apply": {[]PeerAuthentication{pa("other", "default", 0, nil, MTLSStrict, nil)}, 8080, MTLS{Mode: MTLSPermissive}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := InboundMTLS(tc.pas, "shop", DefaultRootNamespace, web, tc.port); got != tc.want {
				t.Errorf("InboundMTLS = %+v, want %+v", got, tc.want)
			}
		})
	}
}
