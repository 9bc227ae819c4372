package mutate

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshguard/meshguard/pkg/policy"
)

// fuzzSpec is the ServiceEntry spec as the fuzzer shapes it; Endpoints is raw
// so that any JSON reaches the rule's decoder.
type fuzzSpec struct {
	Hosts            []string          `json:"hosts"`
	Addresses        []string          `json:"addresses,omitempty"`
	Resolution       string            `json:"resolution,omitempty"`
	Endpoints        json.RawMessage   `json:"endpoints,omitempty"`
	WorkloadSelector map[string]any    `json:"workloadSelector,omitempty"`
	Unknown          map[string]string `json:"futureField,omitempty"`
}

// FuzzGCEMetadataAddress runs the rule through the engine on arbitrary specs:
// it must never fail on a well-formed object, its patch must apply and be
// final (a second pass changes nothing), and a patched metadata entry must
// end with the metadata IP in spec.addresses and no IP in spec.hosts.
func FuzzGCEMetadataAddress(f *testing.F) {
	f.Add("*.googleapis.com,169.254.169.254,metadata.google.internal", "", "", []byte(nil), false)
	f.Add("metadata.google.internal", "", "DNS", []byte(nil), false)
	f.Add("metadata,fd20:ce::254,169.254.169.254/32", "10.0.0.0/8", "STATIC", []byte(`[]`), false)
	f.Add("metadata.google.internal.", "169.254.169.254/32,169.254.169.254/32", "DNS_ROUND_ROBIN", []byte(`null`), false)
	f.Add("metadata.google.internal,10.1.2.3/8", "", "DNS", []byte(`[{"address":"1.2.3.4"}]`), true)
	f.Add("metadata.google.internal,169.254.169.254", "169.254.169.254", "DYNAMIC_DNS", []byte(`{}`), false)
	f.Add("api.example.com,203.0.113.1", "", "", []byte(`"x"`), true)
	engine := policy.NewEngine(policy.Config{Rules: policy.Rules{Mutating: []policy.Mutator{GCEMetadataAddress{}}}, Log: logr.Discard()})
	f.Fuzz(func(t *testing.T, hosts, addresses, resolution string, endpoints []byte, selector bool) {
		spec := fuzzSpec{Hosts: strings.Split(hosts, ","), Resolution: resolution, Unknown: map[string]string{"keep": "me"}}
		if addresses != "" {
			spec.Addresses = strings.Split(addresses, ",")
		}
		if json.Valid(endpoints) {
			spec.Endpoints = endpoints
		}
		if selector {
			spec.WorkloadSelector = map[string]any{"labels": map[string]string{"app": "x"}}
		}
		obj, err := json.Marshal(map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
			"metadata": map[string]any{"name": "se", "namespace": "ns"}, "spec": spec,
		})
		if err != nil {
			t.Skip(err)
		}
		resp, err := reviewSE(engine, obj)
		if errors.Is(err, policy.ErrBadObject) {
			return // endpoints that are not a list: answered with HTTP 400
		} else if err != nil {
			t.Fatalf("%v\n%s", err, obj)
		}
		out := obj
		if len(resp.Patch) > 0 {
			p, err := jsonpatch.DecodePatch(resp.Patch)
			if err != nil {
				t.Fatal(err)
			}
			if out, err = p.Apply(obj); err != nil {
				t.Fatalf("patch does not apply: %v\n%s\n%s", err, resp.Patch, obj)
			}
			again, err := reviewSE(engine, out)
			if err != nil || len(again.Patch) > 0 {
				t.Fatalf("not idempotent: %v %s\nfirst %s\nthen %s", err, again.Patch, resp.Patch, out)
			}
		}
		checkMetadataEntry(t, obj, out, len(resp.Patch) > 0, len(resp.Warnings) > 0)
	})
}

func reviewSE(e *policy.Engine, obj []byte) (*admissionv1.AdmissionResponse, error) {
	return e.Review(context.Background(), policy.NewRequest(&admissionv1.AdmissionRequest{
		UID:       "uid",
		Kind:      metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "ServiceEntry"},
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: obj},
	}))
}

// checkMetadataEntry asserts what a metadata ServiceEntry looks like after
// the rule, unless the rule declined it (a warning without a patch) or does
// not know its resolution.
func checkMetadataEntry(t *testing.T, in, out []byte, patched, warned bool) {
	var before, after struct{ Spec fuzzSpec }
	if err := json.Unmarshal(in, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &after); err != nil {
		t.Fatal(err)
	}
	if after.Spec.Unknown["keep"] != "me" {
		t.Fatalf("an unknown field was lost: %s", out)
	}
	named := slices.ContainsFunc(before.Spec.Hosts, func(h string) bool {
		h = strings.TrimSuffix(h, ".")
		return h == "metadata.google.internal" || h == "metadata"
	})
	res := before.Spec.Resolution
	known := slices.Contains([]string{"", "NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"}, res)
	if !named {
		if patched || warned {
			t.Fatalf("an entry without a metadata host was touched: %s", in)
		}
		return
	}
	if !known || (warned && !patched) {
		return
	}
	dns := res == "DNS" || res == "DNS_ROUND_ROBIN"
	declared := false
	for _, a := range after.Spec.Addresses {
		ip, err := netip.ParseAddr(a)
		if pfx, perr := netip.ParsePrefix(a); perr == nil && pfx.IsSingleIP() && !dns {
			ip, err = pfx.Addr(), nil
		}
		declared = declared || (err == nil && ip == netip.MustParseAddr(GCEMetadataIP))
		if patched && dns && strings.Contains(a, "/") {
			t.Errorf("a patched DNS entry has the CIDR %s: %s", a, out)
		}
	}
	if !declared {
		t.Errorf("%s is not declared in spec.addresses:\n%s\n%s", GCEMetadataIP, in, out)
	}
	for _, h := range after.Spec.Hosts {
		if isIPLiteral(h) {
			t.Errorf("IP %s left in spec.hosts: %s", h, out)
		}
	}
	if !patched {
		return
	}
	if want := slices.DeleteFunc(slices.Clone(before.Spec.Hosts), isIPLiteral); !slices.Equal(after.Spec.Hosts, want) {
		t.Errorf("hosts other than IPs changed: %q -> %q", before.Spec.Hosts, after.Spec.Hosts)
	}
	for _, a := range after.Spec.Addresses {
		n := func(list []string) int {
			want, _ := parseAddress(a)
			return len(slices.DeleteFunc(slices.Clone(list), func(b string) bool {
				got, _ := parseAddress(b)
				return got != want
			}))
		}
		if n(after.Spec.Addresses) > max(1, n(before.Spec.Addresses)) {
			t.Errorf("the patch declared %s twice: %q -> %q", a, before.Spec.Addresses, after.Spec.Addresses)
		}
	}
	var eps []json.RawMessage
	_ = json.Unmarshal(after.Spec.Endpoints, &eps)
	if res == "STATIC" && after.Spec.WorkloadSelector == nil && len(eps) == 0 {
		t.Errorf("a STATIC entry has no endpoints: %s", out)
	}
}
