// Package mesh decides whether a namespace is part of the Istio mesh, with the
// same label semantics as Istio's own sidecar-injector webhook selectors.
package mesh

import "context"

// Labels that put a namespace into the mesh.
const (
	InjectionLabel   = "istio-injection"
	RevisionLabel    = "istio.io/rev"
	DataplaneLabel   = "istio.io/dataplane-mode"
	InjectionEnabled = "enabled"
	DataplaneAmbient = "ambient"
	byDefaultReason  = "every unlabelled namespace is meshed on this cluster (--mesh-by-default)"
	// The common reasons are constants so checking a namespace allocates nothing.
	injectionEnabledReason = InjectionLabel + "=" + InjectionEnabled
	ambientReason          = DataplaneLabel + "=" + DataplaneAmbient
)

// Options tunes the predicate for installs that differ from Istio's defaults.
type Options struct {
	// ByDefault treats every unlabelled namespace that is not a system namespace
	// as meshed, for installs with enableNamespacesByDefault.
	ByDefault bool
	// SystemNamespaces are never meshed by ByDefault; kube-system, kube-public and
	// kube-node-lease always count as system namespaces.
	SystemNamespaces []string
}

// Status is the verdict for one namespace.
type Status struct {
	// Meshed is true when workloads in the namespace run in the mesh.
	Meshed bool
	// Reason names the label (or setting) that decided, e.g. "istio-injection=enabled";
	// messages quote it so users know what to change.
	Reason string
}

// Check applies Istio's selector semantics to a namespace's labels:
// istio-injection=enabled is meshed and any other istio-injection value opts out,
// winning over istio.io/rev; otherwise any istio.io/rev value is meshed.
// Ambient (istio.io/dataplane-mode=ambient) does not use sidecar injection, so
// it is meshed whatever istio-injection says.
func Check(name string, labels map[string]string, o Options) Status {
	if labels[DataplaneLabel] == DataplaneAmbient {
		return Status{true, ambientReason}
	}
	if v, ok := labels[InjectionLabel]; ok {
		if v == InjectionEnabled {
			return Status{true, injectionEnabledReason}
		}
		return Status{false, InjectionLabel + "=" + v}
	}
	if v, ok := labels[RevisionLabel]; ok {
		return Status{true, RevisionLabel + "=" + v}
	}
	if _, ok := labels[DataplaneLabel]; ok {
		return Status{false, DataplaneLabel + "=" + labels[DataplaneLabel]}
	}
	if o.ByDefault && !o.isSystem(name) {
		return Status{true, byDefaultReason}
	}
	return Status{false, "no istio-injection, istio.io/rev or istio.io/dataplane-mode label"}
}

func (o Options) isSystem(name string) bool {
	switch name {
	case "kube-system", "kube-public", "kube-node-lease":
		return true
	}
	for _, s := range o.SystemNamespaces {
		if s == name {
			return true
		}
	}
	return false
}

// Namespaces returns a namespace's labels; pkg/cluster reads them from the
// informer cache.
type Namespaces interface {
	NamespaceLabels(ctx context.Context, name string) (map[string]string, error)
}

// Lookup reads a namespace's labels and checks them.
func Lookup(ctx context.Context, ns Namespaces, name string, o Options) (Status, error) {
	labels, err := ns.NamespaceLabels(ctx, name)
	if err != nil {
		return Status{}, err
	}
	return Check(name, labels, o), nil
}
