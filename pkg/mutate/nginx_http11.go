package mutate

import (
	"context"
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

// configMapDoc is the part of a ConfigMap this rule reads; binaryData is never touched.
type configMapDoc struct {
	policy.ObjectHead
	Data map[string]string `json:"data"`
}

// ID implements policy.Rule.
func (NginxHTTP11) ID() string { return "nginx-http11" }

// Applies implements policy.Rule: ConfigMap CREATE and UPDATE.
func (NginxHTTP11) Applies(req *policy.Request) bool {
	return req.IsKind("", "ConfigMap") && req.IsWrite()
}

// Check implements policy.Rule.
func (r NginxHTTP11) Check(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
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
	res := nginx.Rewrite(ctx, cm.Data, nginx.Options{MaxBytes: r.MaxBytes})
	if ctx.Err() != nil {
		// Out of time: a mutation applies completely or not at all.
		return []policy.Finding{policy.Warn(fmt.Sprintf(
			"ConfigMap %q was left unchanged: analysing its nginx configuration took longer than the review's time budget; check by hand that every proxy_pass location sets proxy_http_version 1.1 (%s)", name, http10Why))}, nil
	}
	for _, s := range res.Skipped {
		findings = append(findings, policy.Finding{Severity: policy.Skipped, Message: fmt.Sprintf("key %q: %s", s.File, s.Reason)})
	}
	for _, key := range sortedKeys(res.Changed) {
		findings = append(findings, policy.Finding{
			Severity: policy.Change,
			Message:  fmt.Sprintf("ConfigMap %q key %q: %s (%s); make the same change in your source manifest, or let the workload accept HTTP/1.0 with ISTIO_META_HTTP10=\"1\"", name, key, describe(res.Edits, key), http10Why),
			Patch:    []jsonpatch.Operation{jsonpatch.NewOperation("replace", dataPath(key), res.Changed[key])},
		})
	}
	return findings, nil
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

// describe lists a key's edits as "line 12: insert `proxy_http_version 1.1;`
// (proxy_pass http://api in location /api)".
func describe(edits []nginx.Edit, key string) string {
	var parts []string
	for _, e := range edits {
		if e.File != key {
			continue
		}
		what := fmt.Sprintf("insert %q", e.New)
		if e.Old != "" {
			what = fmt.Sprintf("%q → %q", e.Old, e.New)
		}
		p := fmt.Sprintf("line %d: %s", e.Line, what)
		if e.Reason != "" {
			p += " for " + e.Reason
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func dataPath(key string) string {
	return "/data/" + strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
