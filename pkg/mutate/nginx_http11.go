package mutate

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/nginx"
	"github.com/meshguard/meshguard/pkg/policy"
)

// IngressNginxVersionKey is the ingress-nginx controller ConfigMap key that
// sets proxy_http_version for every proxied location.
const IngressNginxVersionKey = "proxy-http-version"

// http10Why is the reason quoted by every nginx-http11 message.
const http10Why = "nginx proxies with HTTP/1.0 by default (before 1.29.7) and the Istio sidecar answers HTTP/1.0 with 426 Upgrade Required"

// NginxHTTP11 rewrites nginx configuration in ConfigMaps of mesh-enabled
// namespaces so every HTTP proxy_pass speaks HTTP/1.1, changing nothing but
// the one directive that matters.
type NginxHTTP11 struct {
	Namespaces mesh.Namespaces
	Mesh       mesh.Options
	// MaxBytes bounds the size of a value the rewriter parses (0: the rewriter's default).
	MaxBytes int
}

// configMapDoc is the part of a ConfigMap this rule reads; binaryData is
// never touched, only measured.
type configMapDoc struct {
	policy.ObjectHead
	Data       map[string]string `json:"data"`
	BinaryData map[string]string `json:"binaryData"` // base64, as sent
}

// maxConfigMapBytes is what the API server lets the values of one ConfigMap
// hold (data plus decoded binaryData, keys not counted).
const maxConfigMapBytes = 1 << 20

// size returns the bytes the API server counts against maxConfigMapBytes
// once the changed values replace their originals.
func (cm *configMapDoc) size(changed map[string]string) int {
	n := 0
	for k, v := range cm.Data {
		if c, ok := changed[k]; ok {
			v = c
		}
		n += len(v)
	}
	for _, v := range cm.BinaryData {
		n += base64.StdEncoding.DecodedLen(len(v)) - strings.Count(v[max(0, len(v)-2):], "=")
	}
	return n
}

// ID implements policy.Rule.
func (NginxHTTP11) ID() string { return "nginx-http11" }

// Match implements policy.Rule: ConfigMap CREATE and UPDATE in mesh-enabled namespaces.
func (NginxHTTP11) Match() policy.Match {
	return policy.One(policy.Kind{Versions: []string{"v1"}, Resource: "configmaps", Kind: "ConfigMap"}, policy.Writes, true)
}

// Mutate implements policy.Mutator.
func (r NginxHTTP11) Mutate(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	var cm configMapDoc
	if err := req.Decode(&cm); err != nil {
		return nil, err
	}
	// Most ConfigMaps are not nginx configuration: decide that before any
	// namespace look-up or parsing.
	if !r.mayNeedChange(cm.Data) {
		return nil, nil
	}
	status, err := mesh.Lookup(ctx, r.Namespaces, req.Namespace, r.Mesh)
	if err != nil || !status.Meshed {
		return nil, err
	}
	name := cm.Metadata.DisplayName()
	var findings []policy.Finding
	if cm.Data[IngressNginxVersionKey] == "1.0" {
		findings = append(findings, policy.Finding{
			Severity: policy.Change,
			Message: fmt.Sprintf(`ConfigMap %q key %q: "1.0" → "1.1" (ingress-nginx sets proxy_http_version from it; %s); make the same change in your source manifest`,
				name, IngressNginxVersionKey, http10Why),
			Patch: []jsonpatch.Operation{jsonpatch.NewOperation("replace", dataPath(IngressNginxVersionKey), "1.1")},
		})
	}
	if n := cm.size(nil); n > maxConfigMapBytes {
		// Mutating webhooks run before the API server validates the object,
		// and it refuses this one whatever is changed: analysing it would
		// only cost time and memory.
		return append(findings, policy.Finding{Severity: policy.Skipped, Message: fmt.Sprintf(
			"values hold %d bytes, over the %d a ConfigMap may hold: the API server refuses the object", n, maxConfigMapBytes)}), nil
	}
	res := nginx.Rewrite(ctx, cm.Data, nginx.Options{MaxBytes: r.MaxBytes})
	if err := ctx.Err(); err != nil {
		// Out of time, or the API server gave up: no decision rather than a
		// partial one, so the webhook answers an HTTP error and
		// failurePolicy decides.
		return nil, fmt.Errorf("analysing the nginx configuration of ConfigMap %q: %w", name, err)
	}
	for _, s := range res.Skipped {
		findings = append(findings, policy.Finding{Severity: policy.Skipped, Message: fmt.Sprintf("key %q: %s", s.File, s.Reason)})
	}
	if parsed := parsedSkips(res.Skipped); len(parsed) > 0 {
		findings = append(findings, policy.Warn(unanalysed(name, parsed)))
	}
	if len(res.Changed) > 0 {
		if n := cm.size(res.Changed); n > maxConfigMapBytes {
			// The API server would refuse the changed object, and with it
			// the user's write: leave it as written and say what it needs.
			return append(findings, policy.Warn(fmt.Sprintf(
				"ConfigMap %q was left unchanged: %d of its values need proxy_http_version 1.1 (%s), but with the change its values would hold %d bytes, over the %d a ConfigMap may hold; split it, and set proxy_http_version 1.1 in every location that proxies, or let the workload accept HTTP/1.0 with ISTIO_META_HTTP10=\"1\"",
				name, len(res.Changed), http10Why, n, maxConfigMapBytes))), nil
		}
	}
	edits := editsByKey(res.Edits)
	for _, key := range sortedKeys(res.Changed) {
		findings = append(findings, policy.Finding{
			Severity: policy.Change,
			Message:  fmt.Sprintf("ConfigMap %q key %q: %s (%s); make the same change in your source manifest, or let the workload accept HTTP/1.0 with ISTIO_META_HTTP10=\"1\"", name, key, describe(edits[key]), http10Why),
			Patch:    []jsonpatch.Operation{jsonpatch.NewOperation("replace", dataPath(key), res.Changed[key])},
		})
	}
	return findings, nil
}

// maxSkippedNamed bounds how many skipped keys one warning names.
const maxSkippedNamed = 3

// parsedSkips are the skipped values that are nginx configuration: text
// that merely mentions proxy_pass is no reason to warn.
func parsedSkips(skipped []nginx.Skip) []nginx.Skip {
	var out []nginx.Skip
	for _, s := range skipped {
		if s.Valid {
			out = append(out, s)
		}
	}
	return out
}

// unanalysed tells the user which values were left alone and why: a value
// meshguard cannot analyse keeps every proxy_pass in it on HTTP/1.0.
func unanalysed(name string, skipped []nginx.Skip) string {
	var b strings.Builder
	for i, s := range skipped[:min(len(skipped), maxSkippedNamed)] {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "key %q: %s", s.File, s.Reason)
	}
	if extra := len(skipped) - maxSkippedNamed; extra > 0 {
		fmt.Fprintf(&b, "; and %d more", extra)
	}
	return fmt.Sprintf("ConfigMap %q has nginx configuration meshguard cannot analyse safely, left unchanged (%s); its proxy_pass directives stay on HTTP/1.0 unless set otherwise (%s): add proxy_http_version 1.1; beside each of them yourself, or let the workload accept HTTP/1.0 with ISTIO_META_HTTP10=\"1\"",
		name, b.String(), http10Why)
}

func (r NginxHTTP11) mayNeedChange(data map[string]string) bool {
	if data[IngressNginxVersionKey] == "1.0" {
		return true
	}
	for _, v := range data {
		if nginx.NeedsLook(v) {
			return true
		}
	}
	return false
}

// maxDescribed bounds the edits one message lists; a value with thousands of
// proxy_pass locations gets a message of bounded length.
const maxDescribed = 10

// editsByKey groups the edits by key in one pass, keeping their order.
func editsByKey(edits []nginx.Edit) map[string][]nginx.Edit {
	out := map[string][]nginx.Edit{}
	for _, e := range edits {
		out[e.File] = append(out[e.File], e)
	}
	return out
}

// describe lists a key's edits as "line 12: insert `proxy_http_version 1.1;`
// (proxy_pass http://api in location /api)", at most maxDescribed of them.
func describe(edits []nginx.Edit) string {
	var b strings.Builder
	for i, e := range edits {
		if i == maxDescribed {
			fmt.Fprintf(&b, "; and %d more changes of the same kind", len(edits)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "line %d: ", e.Line)
		if e.Old != "" {
			fmt.Fprintf(&b, "%q → %q", e.Old, e.New)
		} else {
			fmt.Fprintf(&b, "insert %q", e.New)
		}
		if e.Reason != "" {
			b.WriteString(" for " + e.Reason)
		}
	}
	return b.String()
}

func dataPath(key string) string {
	return policy.Pointer("data", key)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
