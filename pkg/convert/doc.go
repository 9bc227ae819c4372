// Package convert turns Kubernetes Ingresses into the Gateway API objects
// that replace them: a Gateway (gatewayClassName istio) per namespace or one
// shared Gateway, an HTTPRoute per host, and ReferenceGrants where a
// certificate Secret lives outside the Gateway's namespace.
//
// It knows Ingress and Gateway API types and nothing of admission. Every
// annotation of a known Ingress controller or cloud and every field that
// cannot be carried exactly is named in a Report, with what to do about it:
// nothing is dropped silently.
package convert
