package mutate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/meshguard/meshguard/pkg/policy"
)

// GCEMetadataIP is the address of the GCE metadata server.
const GCEMetadataIP = "169.254.169.254"

// GCEMetadataAddress makes ServiceEntries for the GCE metadata server work in
// the mesh: it declares 169.254.169.254 in spec.addresses, moves IP literals
// out of spec.hosts (the 2018 shape, which istiod now rejects) and gives a
// STATIC entry its endpoint.
//
// With resolution DNS or DNS_ROUND_ROBIN, istiod accepts only plain IPs in
// spec.addresses: the metadata IP's /32 form is rewritten to the plain IP, but
// an entry that carries (or would carry) any other CIDR is left unchanged with
// a warning. istiod rejects that entry whatever is added to it, and which
// half the user meant (the CIDR or DNS) is their call; once they fix it, the
// next write gets the address. DYNAMIC_DNS, which allows no addresses at all,
// is handled the same way.
type GCEMetadataAddress struct{}

// serviceEntry is the part of a ServiceEntry this rule reads; everything else
// is never decoded, so patches cannot lose it. The embedded head lets the
// engine reuse the metadata instead of decoding the object again.
type serviceEntry struct {
	policy.ObjectHead
	Spec struct {
		Hosts            []string          `json:"hosts"`
		Addresses        []string          `json:"addresses"`
		Resolution       string            `json:"resolution"`
		Endpoints        []json.RawMessage `json:"endpoints"`
		WorkloadSelector json.RawMessage   `json:"workloadSelector"`
	} `json:"spec"`
}

// ID implements policy.Rule.
func (GCEMetadataAddress) ID() string { return "gce-metadata-address" }

// Match implements policy.Rule: ServiceEntry CREATE and UPDATE in every
// served version and every namespace (one in the Istio root namespace applies
// mesh-wide, so there is no mesh-enabled-namespace check).
func (GCEMetadataAddress) Match() policy.Match {
	return policy.One(policy.Kind{Group: "networking.istio.io", Versions: []string{"v1", "v1beta1", "v1alpha3"}, Resource: "serviceentries",
		Kind: "ServiceEntry"}, policy.Writes, false)
}

// Mutate implements policy.Mutator.
func (GCEMetadataAddress) Mutate(_ context.Context, req *policy.Request) ([]policy.Finding, error) {
	var se serviceEntry
	if err := req.Decode(&se); err != nil {
		return nil, err
	}
	p := planMetadata(se.Spec.Hosts, se.Spec.Addresses)
	if p.name == "" {
		return nil, nil
	}
	name := se.Metadata.DisplayName()
	res, known := se.Spec.Resolution, true
	switch res {
	case "STATIC":
		// A workload selector supplies the endpoints; istiod refuses both at once.
		p.endpoint = len(se.Spec.Endpoints) == 0 && isNull(se.Spec.WorkloadSelector)
	case "DNS", "DNS_ROUND_ROBIN":
		p.plainMetadataIP()
	case "", "NONE", "DYNAMIC_DNS":
	default:
		known = false
	}
	if !p.changes() {
		return nil, nil
	}
	if !known {
		return []policy.Finding{{Severity: policy.Skipped, Message: fmt.Sprintf("ServiceEntry %q has the unknown resolution %q", name, res)}}, nil
	}
	if msg := p.blocked(res); msg != "" {
		return []policy.Finding{policy.Warn(fmt.Sprintf("ServiceEntry %q was left unchanged although it names %s (the change would be: %s): %s",
			name, p.name, p.describe(), msg))}, nil
	}
	findings := []policy.Finding{{Severity: policy.Change, Message: fmt.Sprintf("ServiceEntry %q: %s; %s; make the same change in your source manifest",
		name, p.describe(), p.why(res)), Patch: p.patch(se.Spec.Addresses != nil)}}
	if len(p.others) > 0 {
		applies := "spec.addresses apply"
		if p.endpoint {
			applies = "spec.addresses and spec.endpoints apply"
		}
		findings = append(findings, policy.Warn(fmt.Sprintf(
			"ServiceEntry %q also lists %s in spec.hosts and its %s to every host: a dedicated ServiceEntry for the metadata server (hosts: [%s], addresses: [%s]) is cleaner",
			name, listSome(p.others, ", ", len(p.others)), applies, p.name, GCEMetadataIP)))
	}
	return findings, nil
}

// metadataPlan is what a metadata ServiceEntry needs; the zero value of each
// change field means "nothing to do".
type metadataPlan struct {
	name      string   // the metadata host as written (empty: not a metadata entry)
	others    []string // hosts that are neither metadata names nor IPs
	hosts     []string // spec.hosts without IP literals
	moved     []string // IP literals moved from spec.hosts to spec.addresses
	dropped   []string // IP literals removed from spec.hosts, already in spec.addresses
	addresses []string // spec.addresses after the change
	added     bool     // the metadata IP was appended
	plained   bool     // the metadata IP's /32 was rewritten to the plain IP
	endpoint  bool     // a STATIC entry without endpoints gets the metadata endpoint
}

// planMetadata sorts the hosts and works out spec.addresses.
func planMetadata(hosts, addresses []string) *metadataPlan {
	p := &metadataPlan{addresses: slices.Clone(addresses)}
	if !slices.ContainsFunc(hosts, isMetadataName) {
		return p
	}
	var ips []string
	for _, h := range hosts {
		switch {
		case isMetadataName(h):
			if p.name == "" {
				p.name = h
			}
			p.hosts = append(p.hosts, h)
		case isIPLiteral(h):
			ips = append(ips, h)
		default:
			p.others = append(p.others, h)
			p.hosts = append(p.hosts, h)
		}
	}
	// A set of what spec.addresses declares keeps the plan linear in the
	// number of hosts and addresses, however many a hostile entry lists.
	declared := make(map[netip.Prefix]bool, len(p.addresses)+len(ips))
	for _, a := range p.addresses {
		if pfx, ok := parseAddress(a); ok {
			declared[pfx] = true
		}
	}
	for _, ip := range ips {
		a, _ := parseAddress(ip)
		if declared[a] {
			p.dropped = append(p.dropped, ip)
			continue
		}
		// A single-host prefix is written as the plain IP, which every resolution accepts.
		declared[a] = true
		p.moved = append(p.moved, ip)
		p.addresses = append(p.addresses, addressString(a))
	}
	if !declared[metadataAddress()] {
		p.addresses = append(p.addresses, GCEMetadataIP)
		p.added = true
	}
	return p
}

// plainMetadataIP rewrites 169.254.169.254/32 to the plain IP: DNS resolutions
// take no CIDR at all, and the /32 means the same address.
func (p *metadataPlan) plainMetadataIP() {
	plain := slices.Contains(p.addresses, GCEMetadataIP)
	out := p.addresses[:0]
	for _, a := range p.addresses {
		if pfx, _ := parseAddress(a); strings.Contains(a, "/") && pfx == metadataAddress() {
			p.plained = true
			if plain {
				continue
			}
			a, plain = GCEMetadataIP, true
		}
		out = append(out, a)
	}
	p.addresses = out
}

func (p *metadataPlan) changes() bool {
	return len(p.moved)+len(p.dropped) > 0 || p.added || p.plained || p.endpoint
}

// blocked says why no rewrite can make the entry acceptable to istiod, or "".
func (p *metadataPlan) blocked(resolution string) string {
	switch resolution {
	case "DYNAMIC_DNS":
		return fmt.Sprintf("istiod allows neither addresses nor non-wildcard hosts with resolution DYNAMIC_DNS; give %s a ServiceEntry of its own with resolution NONE and addresses: [%s]",
			p.name, GCEMetadataIP)
	case "DNS", "DNS_ROUND_ROBIN":
		for _, a := range p.addresses {
			if strings.Contains(a, "/") {
				return fmt.Sprintf("it has resolution %s and the CIDR address %s, which istiod rejects (CIDR addresses are allowed only with resolution NONE or STATIC) whatever is added; give %s a ServiceEntry of its own with addresses: [%s], or use resolution NONE or STATIC",
					resolution, a, p.name, GCEMetadataIP)
			}
		}
	}
	return ""
}

// describe lists the changes, for messages.
func (p *metadataPlan) describe() string {
	var parts []string
	if len(p.moved) > 0 {
		moved := make([]string, min(len(p.moved), maxListed))
		for i, ip := range p.moved[:len(moved)] {
			moved[i] = ip
			if a, _ := parseAddress(ip); addressString(a) != ip {
				moved[i] += " (as " + addressString(a) + ")"
			}
		}
		parts = append(parts, fmt.Sprintf("moved %s from spec.hosts to spec.addresses", listSome(moved, " and ", len(p.moved))))
	}
	if len(p.dropped) > 0 {
		parts = append(parts, fmt.Sprintf("removed %s from spec.hosts (already in spec.addresses)", listSome(p.dropped, " and ", len(p.dropped))))
	}
	if p.added {
		parts = append(parts, fmt.Sprintf("added %s to spec.addresses", GCEMetadataIP))
	}
	if p.plained {
		parts = append(parts, fmt.Sprintf("replaced %s/32 with %s in spec.addresses", GCEMetadataIP, GCEMetadataIP))
	}
	if p.endpoint {
		parts = append(parts, fmt.Sprintf("added the endpoint {address: %s}", GCEMetadataIP))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// why gives the reasons for the changes, for messages.
func (p *metadataPlan) why(resolution string) string {
	var parts []string
	if len(p.moved)+len(p.dropped) > 0 {
		parts = append(parts, "istiod rejects IP addresses in spec.hosts (an all-numeric top-level domain)")
	}
	if p.added || slices.ContainsFunc(p.moved, func(ip string) bool {
		a, _ := parseAddress(ip)
		return a == metadataAddress()
	}) {
		parts = append(parts, fmt.Sprintf("%s only reaches the metadata server through the sidecar when its address %s is declared in spec.addresses", p.name, GCEMetadataIP))
	}
	if p.plained {
		parts = append(parts, fmt.Sprintf("istiod accepts no CIDR addresses with resolution %s", resolution))
	}
	if p.endpoint {
		parts = append(parts, "resolution STATIC sends traffic only to the listed endpoints")
	}
	return strings.Join(parts, ", ")
}

// patch emits operations on exactly the fields that change.
func (p *metadataPlan) patch(haveAddresses bool) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	if len(p.moved)+len(p.dropped) > 0 {
		ops = append(ops, jsonpatch.NewOperation("replace", "/spec/hosts", p.hosts))
	}
	if p.added || p.plained || len(p.moved) > 0 {
		op := "add"
		if haveAddresses {
			op = "replace"
		}
		ops = append(ops, jsonpatch.NewOperation(op, "/spec/addresses", p.addresses))
	}
	if p.endpoint {
		// "add" also replaces an existing empty or null endpoints member (RFC 6902 §4.1).
		ops = append(ops, jsonpatch.NewOperation("add", "/spec/endpoints", []map[string]string{{"address": GCEMetadataIP}}))
	}
	return ops
}

// maxListed bounds the hosts one message names; an entry listing thousands
// gets a message of bounded length.
const maxListed = 10

// listSome joins up to maxListed of the first items with sep, then counts
// the rest of all n.
func listSome(items []string, sep string, n int) string {
	if n <= maxListed {
		return strings.Join(items, sep)
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:maxListed], ", "), n-maxListed)
}

// isMetadataName matches the metadata server's names as istiod accepts them
// (lower case, optionally fully qualified with a trailing dot).
func isMetadataName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	return h == "metadata.google.internal" || h == "metadata"
}

// isIPLiteral reports an IPv4 or IPv6 address, with or without a /prefix.
func isIPLiteral(s string) bool {
	_, ok := parseAddress(s)
	return ok
}

// parseAddress reads an address the way istiod does (a prefix when there is a
// slash, else an IP); a plain IP becomes its single-host prefix, so
// 169.254.169.254 and 169.254.169.254/32 compare equal. Comparing parsed
// values keeps the common path free of allocations.
func parseAddress(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		return pfx, err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// addressString is how an address is written to spec.addresses: a
// single-host prefix as the plain IP, which every resolution accepts.
func addressString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

func metadataAddress() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, 169, 254}), 32)
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
