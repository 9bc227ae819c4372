// Package istio checks meshguard's ServiceEntry mutations against istiod's
// own validation. It is a module of its own so that istio's dependency tree
// stays out of the webhook's go.mod; it holds tests only.
package istio
