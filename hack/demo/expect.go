package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	ingressesGVR  = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
)

// metadataIP is the GCE metadata server's address.
const metadataIP = "169.254.169.254"

// expect returns "" when oc is what meshguard must do to the story's object,
// else what differs. Kinds the story does not hold must be allowed.
func expect(oc *outcome) string {
	want := allowed
	audit := oc.phase == "audit"
	if oc.phase == convertPhase {
		// The Gateway API objects that replace a denied Ingress: no rule
		// of meshguard has anything to say about them.
		if oc.status != allowed || len(oc.warnings) > 0 {
			return fmt.Sprintf("%s with warnings %q, expected %s", oc.status, oc.warnings, allowed)
		}
		return ""
	}
	switch oc.kind {
	case "Ingress":
		if oc.meshed {
			want = pick(audit, wouldDeny, denied)
		}
	case "ConfigMap":
		if oc.meshed {
			want = pick(audit, wouldChange, mutated)
		}
	case "ServiceEntry", "Gateway":
		// gce-metadata-address and gateway-credential-name review every
		// namespace: a ServiceEntry in the Istio root namespace applies
		// mesh-wide, and gateways usually live outside the mesh.
		want = pick(audit, wouldChange, mutated)
	}
	if oc.status != want {
		return fmt.Sprintf("%s, expected %s", oc.status, want)
	}
	switch {
	case oc.status == denied && !strings.Contains(oc.message, "[ingress-in-mesh]"):
		return "denied, but not by ingress-in-mesh"
	case oc.status == mutated && oc.kind == "ConfigMap":
		return onlyInserted(oc.sent, oc.stored, "proxy_http_version 1.1;")
	case oc.status == mutated && oc.kind == "ServiceEntry":
		hosts, _, _ := unstructured.NestedStringSlice(oc.stored.Object, "spec", "hosts")
		addrs, _, _ := unstructured.NestedStringSlice(oc.stored.Object, "spec", "addresses")
		if slices.Contains(hosts, metadataIP) || !slices.Contains(addrs, metadataIP) {
			return fmt.Sprintf("stored hosts %v, addresses %v: %s not moved to addresses", hosts, addrs, metadataIP)
		}
	case oc.status == mutated && oc.kind == "Gateway":
		servers, _, _ := unstructured.NestedSlice(oc.stored.Object, "spec", "servers")
		if len(servers) == 0 {
			return "stored Gateway has no servers"
		}
		tls, _, _ := unstructured.NestedStringMap(servers[0].(map[string]any), "tls")
		if tls["credentialName"] != "istio-ingressgateway-certs" || tls["serverCertificate"] != "" {
			return fmt.Sprintf("stored tls %v: the file paths did not become credentialName", tls)
		}
	case (oc.status == wouldDeny || oc.status == wouldChange) && len(oc.warnings) == 0:
		return "no warning"
	}
	return ""
}

func pick(audit bool, a, e string) string {
	if audit {
		return a
	}
	return e
}

// onlyInserted checks that every data value is unchanged except for one
// inserted line reading line (indentation aside).
func onlyInserted(sent, stored *unstructured.Unstructured, line string) string {
	sd, _, _ := unstructured.NestedStringMap(sent.Object, "data")
	td, _, _ := unstructured.NestedStringMap(stored.Object, "data")
	inserted := 0
	for k, a := range sd {
		b, ok := td[k]
		if !ok {
			return "data." + k + " removed"
		}
		m := difflib.NewMatcher(difflib.SplitLines(a), difflib.SplitLines(b))
		for _, op := range m.GetOpCodes() {
			switch op.Tag {
			case 'e':
			case 'i':
				for _, l := range difflib.SplitLines(b)[op.J1:op.J2] {
					if strings.TrimSpace(l) != line {
						return fmt.Sprintf("data.%s: inserted %q", k, strings.TrimSpace(l))
					}
					inserted++
				}
			default:
				return fmt.Sprintf("data.%s: lines changed or removed, not only inserted", k)
			}
		}
	}
	if len(td) != len(sd) {
		return "data keys added"
	}
	if inserted != 1 {
		return fmt.Sprintf("%d lines %q inserted, expected 1", inserted, line)
	}
	return ""
}
