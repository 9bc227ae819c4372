package mutate

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/golden"
	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
)

const gceDir = "testdata/gce-metadata-address"

// gceHandler serves the mutating webhook with only GCEMetadataAddress.
func gceHandler(t testing.TB, modes policy.Modes) http.Handler {
	t.Helper()
	h, _ := handler(t, modes, GCEMetadataAddress{})
	return h
}

func TestGCEMetadataAddressGolden(t *testing.T) {
	golden.Run(t, gceHandler(t, policy.Modes{Default: policy.Enforce}), gceDir, *update)
}

// storyChange is the exact change message for the story's ServiceEntry.
const storyChange = `ServiceEntry "external-google-api": moved 169.254.169.254 from spec.hosts to spec.addresses; ` +
	`istiod rejects IP addresses in spec.hosts (an all-numeric top-level domain), ` +
	`metadata.google.internal only reaches the metadata server through the sidecar when its address 169.254.169.254 is declared in spec.addresses; ` +
	`make the same change in your source manifest`

// storyAdvice is the exact warning about the hosts sharing the story's ServiceEntry.
const storyAdvice = `[gce-metadata-address] ServiceEntry "external-google-api" also lists *.googleapis.com in spec.hosts and its spec.addresses apply to every host: ` +
	`a dedicated ServiceEntry for the metadata server (hosts: [metadata.google.internal], addresses: [169.254.169.254]) is cleaner`

func TestGCEMetadataAddress(t *testing.T) {
	enforce, audit := policy.Modes{Default: policy.Enforce}, policy.Modes{Default: policy.Audit}
	off := policy.Modes{Default: policy.Enforce, PerRule: map[string]policy.Mode{"gce-metadata-address": policy.Off}}
	type want struct {
		patched  bool     // a patch carrying the mutated annotation
		warnings []string // exact warnings, in order (nil: none)
		contains []string // substrings of the joined warnings, when exact text would repeat the golden files
		audit    string   // exact gce-metadata-address audit annotation ("" = none)
	}
	tests := map[string]struct {
		modes    policy.Modes
		op       admissionv1.Operation
		file     string // a case of testdata/gce-metadata-address
		manifest string // or an inline manifest
		want     want
	}{
		"the story's ServiceEntry is mutated with a change warning and the shared-hosts advice": {
			file: "story-2018-v1alpha3",
			want: want{patched: true, warnings: []string{"[gce-metadata-address] " + storyChange, storyAdvice}}},
		"in audit mode the story's ServiceEntry is not patched and the warning carries the would-be change": {
			modes: audit, file: "story-2018-v1alpha3",
			want: want{
				warnings: []string{"[gce-metadata-address] (audit) would change (not applied): " + storyChange, strings.Replace(storyAdvice, "] ", "] (audit) ", 1)},
				audit:    "would change: " + storyChange}},
		"an UPDATE is mutated like a CREATE": {
			op: admissionv1.Update, file: "story-2018-v1alpha3",
			want: want{patched: true, warnings: []string{"[gce-metadata-address] " + storyChange, storyAdvice}}},
		"a rule turned off reports nothing": {
			modes: off, file: "story-2018-v1alpha3", want: want{}},
		"a dedicated DNS entry gets the address without the shared-hosts advice": {
			file: "dns-v1",
			want: want{patched: true, warnings: []string{`[gce-metadata-address] ServiceEntry "gce-metadata": added 169.254.169.254 to spec.addresses; ` +
				`metadata.google.internal only reaches the metadata server through the sidecar when its address 169.254.169.254 is declared in spec.addresses; make the same change in your source manifest`}}},
		"the short name is quoted as written": {
			file: "short-name-v1beta1", want: want{patched: true, contains: []string{`added 169.254.169.254 to spec.addresses; metadata only reaches the metadata server`}}},
		"a STATIC entry without endpoints is told why it gets one": {
			file: "static-without-endpoints",
			want: want{patched: true, contains: []string{"added 169.254.169.254 to spec.addresses and added the endpoint {address: 169.254.169.254}", "resolution STATIC sends traffic only to the listed endpoints"}}},
		"a /32 under resolution DNS is rewritten with the reason": {
			file: "slash32-dns",
			want: want{patched: true, contains: []string{"replaced 169.254.169.254/32 with 169.254.169.254 in spec.addresses", "istiod accepts no CIDR addresses with resolution DNS"}}},
		"IP literals moved from hosts are named as written and as stored": {
			file: "ipv6-in-hosts",
			want: want{patched: true, contains: []string{"moved fd20:ce::254 and 169.254.169.254/32 (as 169.254.169.254) from spec.hosts to spec.addresses"}}},
		"an IP already declared is only removed from hosts": {
			file: "ip-host-already-declared",
			want: want{patched: true, contains: []string{"removed 169.254.169.254 from spec.hosts (already in spec.addresses); istiod rejects IP addresses in spec.hosts (an all-numeric top-level domain); make"}}},
		"DNS with a CIDR is left unchanged with a warning saying what to do": {
			file: "dns-cidr",
			want: want{warnings: []string{`[gce-metadata-address] ServiceEntry "gce-internal-range" was left unchanged although it names metadata.google.internal ` +
				`(the change would be: added 169.254.169.254 to spec.addresses): it has resolution DNS and the CIDR address 10.128.0.0/9, which istiod rejects ` +
				`(CIDR addresses are allowed only with resolution NONE or STATIC) whatever is added; give metadata.google.internal a ServiceEntry of its own with addresses: [169.254.169.254], or use resolution NONE or STATIC`}}},
		"DYNAMIC_DNS is left unchanged with a warning": {
			manifest: seManifest("v1", `{hosts: [metadata.google.internal], resolution: DYNAMIC_DNS}`),
			want:     want{contains: []string{"was left unchanged", "istiod allows neither addresses nor non-wildcard hosts with resolution DYNAMIC_DNS"}}},
		"an unknown resolution is skipped silently": {
			manifest: seManifest("v1", `{hosts: [metadata.google.internal], resolution: MAGIC}`), want: want{}},
		"an already-correct entry gets nothing at all": {
			file: "already-correct", want: want{}},
		"an unrelated entry gets nothing at all": {
			file: "unrelated", want: want{}},
		"IP hosts of an entry that does not name the metadata server are not this rule's business": {
			manifest: seManifest("v1", `{hosts: [203.0.113.10, api.example.com]}`), want: want{}},
		"an unserved version is not looked at": {
			manifest: seManifest("v1beta2", `{hosts: [metadata.google.internal]}`), want: want{}},
		"an exemption with a reason is honoured": {
			manifest: `{apiVersion: networking.istio.io/v1, kind: ServiceEntry, metadata: {name: se, namespace: my-app, annotations: {meshguard.dev/exempt: gce-metadata-address, meshguard.dev/exempt-reason: "proxied elsewhere"}}, spec: {hosts: [metadata.google.internal]}}`,
			want:     want{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			modes := tc.modes
			if modes.Default == "" {
				modes = enforce
			}
			r := reviewtest.Req{Op: tc.op, Object: []byte(tc.manifest)}
			if r.Op == "" {
				r.Op = admissionv1.Create
			}
			if tc.file != "" {
				r.Object = reviewtest.Load(t, filepath.Join(gceDir, tc.file+golden.InSuffix))
			}
			if r.Op == admissionv1.Update {
				r.OldObject = r.Object
			}
			resp := reviewtest.Send(t, gceHandler(t, modes), r)
			if !resp.Allowed {
				t.Fatalf("a mutating rule must never deny: %+v", resp.Result)
			}
			checkPatch(t, resp, tc.want.patched)
			if tc.want.warnings != nil && !slices.Equal(resp.Warnings, tc.want.warnings) {
				t.Errorf("warnings:\n%q\nwant:\n%q", resp.Warnings, tc.want.warnings)
			}
			joined := strings.Join(resp.Warnings, "\n")
			for _, s := range tc.want.contains {
				if !strings.Contains(joined, s) {
					t.Errorf("warnings lack %q:\n%s", s, joined)
				}
			}
			if tc.want.warnings == nil && tc.want.contains == nil && len(resp.Warnings) > 0 {
				t.Errorf("want no warnings, got %q", resp.Warnings)
			}
			if got := resp.AuditAnnotations["gce-metadata-address"]; got != tc.want.audit {
				t.Errorf("audit annotation = %q, want %q", got, tc.want.audit)
			}
		})
	}
}

// checkPatch asserts a patch is present exactly when wanted, and that it
// records the rule in the mutated annotation (the engine's job, checked here
// end to end).
func checkPatch(t *testing.T, resp *admissionv1.AdmissionResponse, want bool) {
	t.Helper()
	if !want {
		if len(resp.Patch) > 0 {
			t.Errorf("want no patch, got %s", resp.Patch)
		}
		return
	}
	if !strings.Contains(string(resp.Patch), `"`+policy.MutatedAnnotation+`":"gce-metadata-address"`) &&
		!strings.Contains(string(resp.Patch), `"path":"/metadata/annotations/meshguard.dev~1mutated","value":"gce-metadata-address"`) {
		t.Errorf("the patch does not set %s: gce-metadata-address: %s", policy.MutatedAnnotation, resp.Patch)
	}
}

// seManifest is a ServiceEntry in flow-style YAML, for cases too small for a file.
func seManifest(version, spec string) string {
	return `{apiVersion: networking.istio.io/` + version + `, kind: ServiceEntry, metadata: {name: se, namespace: my-app}, spec: ` + spec + `}`
}
