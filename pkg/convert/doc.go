// Package convert turns Kubernetes Ingresses into the Gateway API objects
// that replace them: a Gateway (gatewayClassName istio) per namespace or one
// shared Gateway, an HTTPRoute per host, and ReferenceGrants where a
// certificate Secret lives outside the Gateway's namespace. With
// Options.To set to TargetIstio it writes Istio's own API instead: an Istio
// Gateway (networking.istio.io/v1) per Gateway group and a VirtualService
// per host, from the same per-Ingress analysis.
//
// It knows Ingress and Gateway API types and nothing of admission. Every
// annotation of a known Ingress controller or cloud and every field that
// cannot be carried exactly is named in a Report, with what to do about it:
// nothing is dropped silently.
package convert
