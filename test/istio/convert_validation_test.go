package istio

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	"istio.io/istio/pkg/config/validation"
	"sigs.k8s.io/yaml"
)

// convertDir holds the golden cases of `webhook convert`.
const convertDir = "../../pkg/convert/testdata"

// TestIstiodAcceptsEveryIstioTargetGolden runs istiod's Gateway and
// VirtualService validation on every object of every --to istio golden
// output, and checks that no Gateway names file-mounted certificates.
func TestIstiodAcceptsEveryIstioTargetGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(convertDir, "*.istio.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("want the istio goldens of every case in %s, found %d", convertDir, len(files))
	}
	kinds := map[string]int{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte("serverCertificate")) || bytes.Contains(b, []byte("privateKey")) || bytes.Contains(b, []byte("/etc/istio")) {
				t.Errorf("file-mounted certificates in %s", f)
			}
			for _, cfg := range istioConfigs(t, b) {
				kinds[cfg.GroupVersionKind.Kind]++
				fn := validation.ValidateVirtualService
				if cfg.GroupVersionKind.Kind == "Gateway" {
					fn = validation.ValidateGateway
				}
				warn, err := fn(cfg)
				if err != nil {
					t.Errorf("istiod rejects %s %s/%s: %v", cfg.GroupVersionKind.Kind, cfg.Namespace, cfg.Name, err)
				}
				if warn != nil {
					t.Errorf("istiod warns about %s %s/%s: %v", cfg.GroupVersionKind.Kind, cfg.Namespace, cfg.Name, warn)
				}
			}
		})
	}
	if kinds["Gateway"] == 0 || kinds["VirtualService"] == 0 {
		t.Errorf("validated %v; want Gateways and VirtualServices", kinds)
	}
}

// TestIstiodRejectsABrokenVirtualService keeps the check above honest: a
// VirtualService istiod must refuse is refused through the same path.
func TestIstiodRejectsABrokenVirtualService(t *testing.T) {
	cfgs := istioConfigs(t, []byte(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken, namespace: shop}
spec:
  hosts: [shop.example.com]
  gateways: [shop/gateway]
  http:
  - match: [{uri: {regex: "(?P<x"}}]
    route: [{destination: {host: web.shop.svc.cluster.local, port: {number: 80}}}]
`))
	if _, err := validation.ValidateVirtualService(cfgs[0]); err == nil {
		t.Fatal("istiod accepts a VirtualService with a broken regex")
	}
}

// istioConfigs converts each document of a YAML stream of Istio objects as
// istiod's webhook does.
func istioConfigs(t *testing.T, stream []byte) []config.Config {
	t.Helper()
	var out []config.Config
	for _, doc := range strings.Split(string(stream), "\n---\n") {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if string(js) == "null" {
			continue
		}
		var obj crd.IstioKind
		if err := json.Unmarshal(js, &obj); err != nil {
			t.Fatal(err)
		}
		gvk := obj.GroupVersionKind()
		s, ok := collections.PilotGatewayAPI().FindByGroupVersionAliasesKind(resource.FromKubernetesGVK(&gvk))
		if !ok {
			t.Fatalf("%v is not a kind istiod serves", gvk)
		}
		cfg, err := crd.ConvertObject(s, &obj, "cluster.local")
		if err != nil {
			t.Fatalf("istiod cannot convert %v %s: %v", gvk, obj.Name, err)
		}
		out = append(out, config.Config(*cfg))
	}
	return out
}
