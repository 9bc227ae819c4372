package mesh

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Istio's mutual TLS modes (PeerAuthentication spec.mtls.mode).
const (
	MTLSUnset      = "UNSET"
	MTLSDisable    = "DISABLE"
	MTLSPermissive = "PERMISSIVE"
	MTLSStrict     = "STRICT"
)

// DefaultRootNamespace is Istio's default meshConfig.rootNamespace, where a
// PeerAuthentication without a selector applies mesh-wide.
const DefaultRootNamespace = "istio-system"

// PeerAuthentication is the part of an Istio PeerAuthentication that decides
// a workload's inbound mutual TLS.
type PeerAuthentication struct {
	Namespace, Name string
	Created         time.Time
	// Selector is spec.selector.matchLabels; nil selects the whole
	// namespace (the whole mesh in the root namespace).
	Selector map[string]string
	// Mode is spec.mtls.mode ("" or UNSET: inherit).
	Mode string
	// Ports is spec.portLevelMtls: a mode per workload port.
	Ports map[uint32]string
}

// MTLS is the inbound mutual TLS mode of one workload port, and the
// PeerAuthentication that set it ("" when none did: Istio's default,
// PERMISSIVE).
type MTLS struct {
	Mode, From string
}

// InboundMTLS applies Istio's PeerAuthentication precedence to a workload
// with labels in namespace ns, for one port (0: no particular port): the
// oldest PeerAuthentication selecting the workload (its port-level mode
// first), then the oldest namespace-wide one, then the oldest mesh-wide one
// in the root namespace; UNSET inherits from the next, and with none the
// mode is PERMISSIVE. pas are the PeerAuthentications of ns and of the root
// namespace.
func InboundMTLS(pas []PeerAuthentication, ns, root string, labels map[string]string, port uint32) MTLS {
	sorted := slices.Clone(pas)
	// Istio picks the oldest, then the first by name.
	slices.SortStableFunc(sorted, func(a, b PeerAuthentication) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	var workload, namespace, mesh *PeerAuthentication
	for i := range sorted {
		pa := &sorted[i]
		switch {
		case pa.Namespace == ns && pa.Selector != nil && workload == nil && selects(pa.Selector, labels):
			workload = pa
		case pa.Namespace == ns && pa.Selector == nil && namespace == nil:
			namespace = pa
		case pa.Namespace == root && pa.Selector == nil && mesh == nil:
			mesh = pa
		}
	}
	if workload != nil {
		if m := workload.Ports[port]; port != 0 && set(m) {
			return MTLS{m, workload.Namespace + "/" + workload.Name + " (port " + strconv.FormatUint(uint64(port), 10) + ")"}
		}
		if set(workload.Mode) {
			return MTLS{workload.Mode, workload.Namespace + "/" + workload.Name}
		}
	}
	for _, pa := range []*PeerAuthentication{namespace, mesh} {
		if pa != nil && set(pa.Mode) {
			return MTLS{pa.Mode, pa.Namespace + "/" + pa.Name}
		}
	}
	return MTLS{Mode: MTLSPermissive}
}

func set(mode string) bool { return mode != "" && mode != MTLSUnset }

// selects reports whether matchLabels select labels; an empty selector
// selects every workload.
func selects(matchLabels, labels map[string]string) bool {
	for k, v := range matchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
