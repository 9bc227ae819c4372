package chart

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/mutate"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/validate"
)

// The match conditions must never be narrower than the rules' own triggers:
// a request they filter out is one the rule would have answered with no
// finding at all. These tests run the real rules and the chart's CEL (with
// cel-go, dyn-typed, as the API server declares object and oldObject for
// match conditions) over the same requests.

// matchCondition compiles the CEL of the named webhook entry.
func matchCondition(t *testing.T, m *manifests, entry string) cel.Program {
	t.Helper()
	w, ok := m.webhooks()[entry]
	if !ok || len(w.MatchConditions) != 1 {
		t.Fatalf("%s: want one match condition, have %+v", entry, w.MatchConditions)
	}
	env, err := cel.NewEnv(
		cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType), cel.Variable("request", cel.DynType),
		cel.HomogeneousAggregateLiterals(),
	)
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(w.MatchConditions[0].Expression)
	if iss.Err() != nil {
		t.Fatalf("%s: %v", entry, iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	return prg
}

// matches evaluates a match condition; an evaluation error fails the test
// because the API server would hand such a request to failurePolicy. The
// request's kind is the object's.
func matches(t *testing.T, prg cel.Program, op admissionv1.Operation, obj, old any) bool {
	t.Helper()
	object := jsonValue(t, obj)
	request := map[string]any{"operation": string(op)}
	if m, ok := object.(map[string]any); ok {
		request["kind"] = map[string]any{"kind": m["kind"]}
	}
	vars := map[string]any{"object": object, "oldObject": jsonValue(t, old), "request": request}
	out, _, err := prg.Eval(vars)
	if err != nil {
		t.Fatalf("match condition on %v: %v", obj, err)
	}
	return out.Value() == true
}

// jsonValue turns obj into the JSON-shaped value the API server hands CEL.
func jsonValue(t *testing.T, obj any) any {
	t.Helper()
	if obj == nil {
		return nil
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// findings runs a rule the way the engine does: its Match, then its check.
func findings(t *testing.T, r policy.Rule, kind metav1.GroupVersionKind, op admissionv1.Operation, obj, old any) []policy.Finding {
	t.Helper()
	req := &admissionv1.AdmissionRequest{Kind: kind, Operation: op, Namespace: "shop", Name: "x"}
	req.Object = runtime.RawExtension{Raw: mustJSON(t, obj)}
	if old != nil {
		req.OldObject = runtime.RawExtension{Raw: mustJSON(t, old)}
	}
	pr := policy.NewRequest(req)
	if !r.Match().Covers(pr) {
		return nil
	}
	var (
		f   []policy.Finding
		err error
	)
	switch r := r.(type) {
	case policy.Validator:
		f, err = r.Validate(context.Background(), pr)
	case policy.Mutator:
		f, err = r.Mutate(context.Background(), pr)
	}
	if err != nil {
		t.Fatalf("%s on %v: %v", r.ID(), obj, err)
	}
	return f
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestConfigMapMatchCondition(t *testing.T) {
	m := render(t, nil)
	prg := matchCondition(t, m, configMapEntries[1])
	rule := mutate.NginxHTTP11{Namespaces: meshed{}}
	reported := 0
	tests := map[string]struct {
		data      map[string]any // the ConfigMap's data and binaryData
		wantMatch bool
	}{
		"a proxy_pass without proxy_http_version is sent":   {data: map[string]any{"data": map[string]string{"default.conf": "server {\n  location / {\n    proxy_pass http://backend;\n  }\n}\n"}}, wantMatch: true},
		"a proxy_pass already on HTTP/1.1 is sent too":      {data: map[string]any{"data": map[string]string{"default.conf": "server { location / { proxy_http_version 1.1; proxy_pass http://b; } }"}}, wantMatch: true},
		"proxy_pass in a comment is sent; the rule decides": {data: map[string]any{"data": map[string]string{"notes": "# proxy_pass is set elsewhere"}}, wantMatch: true},
		"ingress-nginx's proxy-http-version 1.0 is sent":    {data: map[string]any{"data": map[string]string{"proxy-http-version": "1.0"}}, wantMatch: true},
		"ingress-nginx's proxy-http-version 1.1 is not":     {data: map[string]any{"data": map[string]string{"proxy-http-version": "1.1"}}},
		"an application config is not sent":                 {data: map[string]any{"data": map[string]string{"app.properties": "a=b"}}},
		"a ConfigMap without data is not sent":              {data: map[string]any{}},
		"binaryData is never touched, so it is not sent":    {data: map[string]any{"binaryData": map[string][]byte{"x": []byte("proxy_pass http://a;")}}},
		"one nginx value among others is enough":            {data: map[string]any{"data": map[string]string{"a": "x", "b": "location / { proxy_pass http://a; }"}}, wantMatch: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x", "namespace": "shop"}}
			for k, v := range tc.data {
				obj[k] = v
			}
			got := matches(t, prg, admissionv1.Create, obj, nil)
			if got != tc.wantMatch {
				t.Errorf("match condition = %v, want %v", got, tc.wantMatch)
			}
			f := findings(t, rule, metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, admissionv1.Create, obj, nil)
			if len(f) > 0 && !got {
				t.Errorf("the match condition filters out a ConfigMap the rule reports on: %+v", f)
			}
			reported += min(len(f), 1)
		})
	}
	if reported == 0 {
		t.Fatal("the rule reported on no case: the comparison proves nothing")
	}
}

func TestServiceEntryMatchCondition(t *testing.T) {
	m := render(t, nil)
	prg := matchCondition(t, m, serviceEntry)
	reported := 0
	tests := map[string]struct {
		spec      map[string]any
		wantMatch bool
	}{
		"the metadata server's name is sent":                    {spec: map[string]any{"hosts": []string{"metadata.google.internal"}, "resolution": "DNS"}, wantMatch: true},
		"the 2018 manifest with the IP in hosts is sent":        {spec: map[string]any{"hosts": []string{"metadata.google.internal", "169.254.169.254"}, "resolution": "DNS"}, wantMatch: true},
		"the fully qualified name with a trailing dot is sent":  {spec: map[string]any{"hosts": []string{"metadata.google.internal."}}, wantMatch: true},
		"the short name is sent":                                {spec: map[string]any{"hosts": []string{"metadata"}, "resolution": "STATIC"}, wantMatch: true},
		"an entry that is already right is sent; the rule sees": {spec: map[string]any{"hosts": []string{"metadata.google.internal"}, "addresses": []string{"169.254.169.254"}}, wantMatch: true},
		"another host is not sent":                              {spec: map[string]any{"hosts": []string{"storage.googleapis.com"}, "resolution": "DNS"}},
		"an IP literal without the metadata name is not sent":   {spec: map[string]any{"hosts": []string{"169.254.169.254"}}},
		"a differently cased name is not sent, as the rule":     {spec: map[string]any{"hosts": []string{"Metadata.Google.Internal"}}},
		"an entry without hosts is not sent":                    {spec: map[string]any{"resolution": "DNS"}},
		"an entry without spec is not sent":                     {spec: nil},
	}
	for name, tc := range tests {
		for _, version := range []string{"v1", "v1beta1", "v1alpha3"} {
			t.Run(name+" ("+version+")", func(t *testing.T) {
				obj := map[string]any{"apiVersion": "networking.istio.io/" + version, "kind": "ServiceEntry", "metadata": map[string]any{"name": "x", "namespace": "shop"}}
				if tc.spec != nil {
					obj["spec"] = tc.spec
				}
				got := matches(t, prg, admissionv1.Update, obj, obj)
				if got != tc.wantMatch {
					t.Errorf("match condition = %v, want %v", got, tc.wantMatch)
				}
				kind := metav1.GroupVersionKind{Group: "networking.istio.io", Version: version, Kind: "ServiceEntry"}
				f := findings(t, mutate.GCEMetadataAddress{}, kind, admissionv1.Update, obj, nil)
				if len(f) > 0 && !got {
					t.Errorf("the match condition filters out a ServiceEntry the rule reports on: %+v", f)
				}
				reported += min(len(f), 1)
			})
		}
	}
	if reported == 0 {
		t.Fatal("the rule reported on no case: the comparison proves nothing")
	}
}

func TestGatewayMatchCondition(t *testing.T) {
	prg := matchCondition(t, render(t, nil), gatewayEntry)
	legacy := map[string]any{"mode": "SIMPLE", "serverCertificate": "/etc/istio/ingressgateway-certs/tls.crt", "privateKey": "/etc/istio/ingressgateway-certs/tls.key"}
	with := func(tls map[string]any, kv ...any) map[string]any {
		out := maps.Clone(tls)
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	server := func(tls map[string]any) map[string]any {
		s := map[string]any{"port": map[string]any{"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": []string{"a.example.com"}}
		if tls != nil {
			s["tls"] = tls
		}
		return s
	}
	tests := map[string]struct {
		servers   []any
		wantMatch bool
	}{
		"the story's legacy paths are sent":             {servers: []any{server(legacy)}, wantMatch: true},
		"a custom certificate path is sent":             {servers: []any{server(map[string]any{"mode": "SIMPLE", "serverCertificate": "/etc/certs/c.pem", "privateKey": "/etc/certs/k.pem"})}, wantMatch: true},
		"a CA path alone is sent":                       {servers: []any{server(map[string]any{"mode": "MUTUAL", "caCertificates": "/etc/istio/ingressgateway-ca-certs/ca.pem"})}, wantMatch: true},
		"an empty credentialName does not count":        {servers: []any{server(with(legacy, "credentialName", ""))}, wantMatch: true},
		"one legacy server among others is sent":        {servers: []any{server(nil), server(map[string]any{"mode": "PASSTHROUGH"}), server(legacy)}, wantMatch: true},
		"credentialName is not sent":                    {servers: []any{server(map[string]any{"mode": "SIMPLE", "credentialName": "tls"})}},
		"credentialName beside the paths is not sent":   {servers: []any{server(with(legacy, "credentialName", "tls"))}},
		"credentialNames beside the paths is not sent":  {servers: []any{server(with(legacy, "credentialNames", []string{"a", "b"}))}},
		"empty paths are not sent":                      {servers: []any{server(map[string]any{"mode": "SIMPLE", "serverCertificate": "", "privateKey": ""})}},
		"a plain HTTP server is not sent":               {servers: []any{server(nil)}},
		"an HTTPS redirect without files is not sent":   {servers: []any{server(map[string]any{"httpsRedirect": true})}},
		"a Gateway without servers is not sent":         {servers: nil},
		"an empty credentialNames list does not count":  {servers: []any{server(with(legacy, "credentialNames", []string{}))}, wantMatch: true},
		"ISTIO_MUTUAL without files is not sent either": {servers: []any{server(map[string]any{"mode": "ISTIO_MUTUAL"})}},
	}
	reported := 0
	for name, tc := range tests {
		for _, version := range []string{"v1", "v1beta1", "v1alpha3"} {
			t.Run(name+" ("+version+")", func(t *testing.T) {
				obj := map[string]any{"apiVersion": "networking.istio.io/" + version, "kind": "Gateway", "metadata": map[string]any{"name": "gw", "namespace": "istio-system"},
					"spec": map[string]any{"selector": map[string]any{"istio": "ingressgateway"}}}
				if tc.servers != nil {
					obj["spec"].(map[string]any)["servers"] = tc.servers
				}
				got := matches(t, prg, admissionv1.Create, obj, nil)
				if got != tc.wantMatch {
					t.Errorf("match condition = %v, want %v", got, tc.wantMatch)
				}
				kind := metav1.GroupVersionKind{Group: "networking.istio.io", Version: version, Kind: "Gateway"}
				f := findings(t, mutate.GatewayCredentialName{}, kind, admissionv1.Create, obj, nil)
				// Exactly equivalent: the rule speaks on every Gateway sent.
				if (len(f) > 0) != got {
					t.Errorf("match condition %v, rule findings %+v", got, f)
				}
				reported += min(len(f), 1)
			})
		}
	}
	if reported == 0 {
		t.Fatal("the rule reported on no case: the comparison proves nothing")
	}
}

// strictPeers puts every namespace under STRICT mutual TLS.
type strictPeers struct{}

func (strictPeers) PeerAuthentications(_ context.Context, namespaces ...string) ([]mesh.PeerAuthentication, error) {
	return []mesh.PeerAuthentication{{Namespace: namespaces[0], Name: "default", Mode: mesh.MTLSStrict}}, nil
}

// meshedNamespaces puts every namespace in the mesh.
type meshedNamespaces struct{}

func (meshedNamespaces) NamespaceLabels(context.Context, string) (map[string]string, error) {
	return map[string]string{"istio-injection": "enabled"}, nil
}

// TestProbesMatchCondition: only pod templates that turn probe rewriting
// off reach the webhook, for every kind the rule reads, and every one the
// rule warns about does (in a STRICT namespace, with an HTTP probe).
func TestProbesMatchCondition(t *testing.T) {
	m := render(t, nil)
	rule := validate.ProbeRewriteDisabled{Namespaces: meshedNamespaces{}, Peers: strictPeers{}}
	podSpec := map[string]any{"containers": []any{map[string]any{"name": "web", "image": "web:1",
		"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/ready", "port": 8080}}}}}
	annotationSets := map[string]map[string]string{
		"no annotations": nil, "other annotations": {"team": "web"},
		"rewriting off": {validate.RewriteProbesAnnotation: "false"}, "off, capitalised": {validate.RewriteProbesAnnotation: "False"},
		"off as 0": {validate.RewriteProbesAnnotation: "0"}, "rewriting on": {validate.RewriteProbesAnnotation: "true"},
		"not a boolean": {validate.RewriteProbesAnnotation: "nope"},
	}
	template := func(ann map[string]string) map[string]any {
		meta := map[string]any{"labels": map[string]any{"app": "web"}}
		if ann != nil {
			meta["annotations"] = ann
		}
		return map[string]any{"metadata": meta, "spec": podSpec}
	}
	objects := map[string]func(map[string]string) map[string]any{
		"apps/v1 Deployment": func(a map[string]string) map[string]any {
			return map[string]any{"spec": map[string]any{"template": template(a)}}
		},
		"apps/v1 StatefulSet": func(a map[string]string) map[string]any {
			return map[string]any{"spec": map[string]any{"template": template(a)}}
		},
		"apps/v1 DaemonSet": func(a map[string]string) map[string]any {
			return map[string]any{"spec": map[string]any{"template": template(a)}}
		},
		"apps/v1 ReplicaSet": func(a map[string]string) map[string]any {
			return map[string]any{"spec": map[string]any{"template": template(a)}}
		},
		"batch/v1 Job": func(a map[string]string) map[string]any {
			return map[string]any{"spec": map[string]any{"template": template(a)}}
		},
		"batch/v1 CronJob": func(a map[string]string) map[string]any {
			return map[string]any{"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": template(a)}}}}
		},
		"v1 Pod": func(a map[string]string) map[string]any {
			tpl := template(a)
			return map[string]any{"metadata": tpl["metadata"], "spec": podSpec}
		},
	}
	sent, reported := 0, 0
	for entry := range slices.Values(probeEntries) {
		prg := matchCondition(t, m, entry)
		for gvk, build := range objects {
			apiVersion, kind, _ := strings.Cut(gvk, " ")
			for what, ann := range annotationSets {
				obj := build(ann)
				obj["apiVersion"], obj["kind"] = apiVersion, kind
				meta, _ := obj["metadata"].(map[string]any)
				if meta == nil {
					meta = map[string]any{}
				}
				meta["name"], meta["namespace"] = "web", "shop"
				obj["metadata"] = meta
				got := matches(t, prg, admissionv1.Create, obj, nil)
				group, version, found := strings.Cut(apiVersion, "/")
				if !found {
					group, version = "", apiVersion
				}
				f := findings(t, rule, metav1.GroupVersionKind{Group: group, Version: version, Kind: kind}, admissionv1.Create, obj, nil)
				if got != (len(f) > 0) {
					t.Errorf("%s, %s, %s: match condition %v, rule findings %+v", entry, gvk, what, got, f)
				}
				if got {
					sent++
				}
				reported += min(len(f), 1)
			}
		}
		// An object a controller owns is left to its owner, by both.
		owned := objects["v1 Pod"](annotationSets["rewriting off"])
		owned["apiVersion"], owned["kind"] = "v1", "Pod"
		owned["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u", "controller": true}}
		if matches(t, prg, admissionv1.Create, owned, nil) || len(findings(t, rule, metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, admissionv1.Create, owned, nil)) > 0 {
			t.Errorf("%s: a Pod its ReplicaSet owns is sent or reported", entry)
		}
		// A template without metadata must not make the condition fail.
		bare := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "x"}, "spec": map[string]any{"template": map[string]any{}}}
		if matches(t, prg, admissionv1.Create, bare, nil) {
			t.Errorf("%s: a template without annotations is sent", entry)
		}
	}
	if reported == 0 || sent != reported {
		t.Errorf("%d objects sent, %d warned about; want equal and non-zero", sent, reported)
	}
}

func TestNamespaceMatchCondition(t *testing.T) {
	for _, byDefault := range []bool{false, true} {
		t.Run(fmt.Sprintf("meshByDefault=%v", byDefault), func(t *testing.T) {
			m := render(t, values(t, fmt.Sprintf("meshByDefault: %v", byDefault)))
			prg := matchCondition(t, m, namespaceEntry)
			// A namespace with an Ingress served outside Istio: the one case in
			// which the rule has something to say.
			rule := validate.NamespaceJoinsMesh{Ingresses: oneGCEIngress{}, Classes: noClasses{}, Mesh: mesh.Options{ByDefault: byDefault}}
			kind := metav1.GroupVersionKind{Version: "v1", Kind: "Namespace"}
			sent, reported := 0, 0
			for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
				for _, oldLabels := range namespaceLabelSets() {
					for _, newLabels := range namespaceLabelSets() {
						obj, old := namespace("shop", newLabels), namespace("shop", oldLabels)
						if op == admissionv1.Create {
							old = nil
						}
						got := matches(t, prg, op, obj, old)
						f := findings(t, rule, kind, op, obj, old)
						if got {
							sent++
						}
						if len(f) > 0 {
							reported++
						}
						// Exactly equivalent for an ordinary namespace: never narrower,
						// and no call the rule could only answer with "allowed".
						if got != (len(f) > 0) {
							t.Errorf("%s %v → %v: match condition %v, rule findings %d", op, oldLabels, newLabels, got, len(f))
						}
					}
				}
			}
			if reported == 0 || sent != reported {
				t.Errorf("%d requests sent, %d reported on; want equal and non-zero", sent, reported)
			}
		})
	}
}

func namespace(name string, labels map[string]string) map[string]any {
	meta := map[string]any{"name": name}
	if len(labels) > 0 {
		meta["labels"] = labels
	}
	return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
}

// meshed says every namespace is mesh-enabled.
type meshed struct{}

func (meshed) NamespaceLabels(context.Context, string) (map[string]string, error) {
	return map[string]string{mesh.InjectionLabel: mesh.InjectionEnabled}, nil
}

// oneGCEIngress lists one Ingress served by the GCE controller.
type oneGCEIngress struct{}

func (oneGCEIngress) Ingresses(context.Context, string) ([]networkingv1.Ingress, error) {
	return []networkingv1.Ingress{{ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{"kubernetes.io/ingress.class": "gce"}}}}, nil
}

// noClasses knows no IngressClass.
type noClasses struct{}

func (noClasses) IngressClassController(context.Context, string) (string, bool, error) {
	return "", false, nil
}
