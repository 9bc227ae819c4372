package mesh

import "testing"

func TestCheck(t *testing.T) {
	tests := map[string]struct {
		ns     string
		labels map[string]string
		opts   Options
		meshed bool
		reason string
	}{
		"istio-injection=enabled is meshed": {
			labels: map[string]string{"istio-injection": "enabled"}, meshed: true, reason: "istio-injection=enabled"},
		"istio-injection=disabled is not meshed": {
			labels: map[string]string{"istio-injection": "disabled"}, reason: "istio-injection=disabled"},
		"istio-injection=disabled wins over istio.io/rev": {
			labels: map[string]string{"istio-injection": "disabled", "istio.io/rev": "canary"}, reason: "istio-injection=disabled"},
		"any other istio-injection value opts out": {
			labels: map[string]string{"istio-injection": "true"}, reason: "istio-injection=true"},
		"istio.io/rev with any value is meshed": {
			labels: map[string]string{"istio.io/rev": "canary"}, meshed: true, reason: "istio.io/rev=canary"},
		"istio.io/rev=default is meshed": {
			labels: map[string]string{"istio.io/rev": "default"}, meshed: true, reason: "istio.io/rev=default"},
		"ambient is meshed": {
			labels: map[string]string{"istio.io/dataplane-mode": "ambient"}, meshed: true, reason: "istio.io/dataplane-mode=ambient"},
		"ambient is meshed even with sidecar injection disabled": {
			labels: map[string]string{"istio.io/dataplane-mode": "ambient", "istio-injection": "disabled"}, meshed: true, reason: "istio.io/dataplane-mode=ambient"},
		"dataplane-mode none is not meshed, even by default": {
			ns: "shop", labels: map[string]string{"istio.io/dataplane-mode": "none"}, opts: Options{ByDefault: true}, reason: "istio.io/dataplane-mode=none"},
		"unlabelled is not meshed": {
			ns: "shop", labels: nil},
		"unlabelled is meshed when meshing by default": {
			ns: "shop", opts: Options{ByDefault: true}, meshed: true, reason: byDefaultReason},
		"kube-system is never meshed by default": {
			ns: "kube-system", opts: Options{ByDefault: true}},
		"a configured system namespace is never meshed by default": {
			ns: "monitoring", opts: Options{ByDefault: true, SystemNamespaces: []string{"monitoring"}}},
		"opting out still wins when meshing by default": {
			ns: "shop", labels: map[string]string{"istio-injection": "disabled"}, opts: Options{ByDefault: true}, reason: "istio-injection=disabled"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Check(tc.ns, tc.labels, tc.opts)
			if got.Meshed != tc.meshed {
				t.Fatalf("Meshed = %v, want %v (reason %q)", got.Meshed, tc.meshed, got.Reason)
			}
			if tc.reason != "" && got.Reason != tc.reason {
				t.Fatalf("Reason = %q, want %q", got.Reason, tc.reason)
			}
		})
	}
}
