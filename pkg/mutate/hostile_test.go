package mutate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
)

// createRequest is the CREATE of obj in namespace my-app (meshed).
func createRequest(t *testing.T, group, version, kind string, obj any) *policy.Request {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewRequest(&admissionv1.AdmissionRequest{
		UID: "hostile", Kind: metav1.GroupVersionKind{Group: group, Version: version, Kind: kind},
		Namespace: "my-app", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	})
}

func configMap(data map[string]string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "web", "namespace": "my-app"}, "data": data}
}

func TestHostileConfigMapsGetBoundedMessages(t *testing.T) {
	rule := NginxHTTP11{Namespaces: testNamespaces, Mesh: mesh.Options{}}
	t.Run("a value with 25 proxy_pass locations lists ten and counts the rest", func(t *testing.T) {
		conf := "server {\n" + strings.Repeat("    location / {\n        proxy_pass http://b;\n    }\n", 25) + "}\n"
		conf = strings.ReplaceAll(conf, "location / ", "location /x ")
		f, err := rule.Mutate(context.Background(), createRequest(t, "", "v1", "ConfigMap", configMap(map[string]string{"default.conf": conf})))
		if err != nil || len(f) != 1 {
			t.Fatalf("findings %+v, err %v", f, err)
		}
		if n := strings.Count(f[0].Message, `insert "proxy_http_version 1.1;"`); n != maxDescribed {
			t.Errorf("%d edits described, want %d: %s", n, maxDescribed, f[0].Message)
		}
		if !strings.Contains(f[0].Message, "; and 15 more changes of the same kind (") {
			t.Errorf("message does not count the rest: %s", f[0].Message)
		}
	})
	keys := func(n int) map[string]string {
		data := map[string]string{}
		for i := range n {
			data[fmt.Sprintf("site%05d.conf", i)] = "server { location / { proxy_pass http://b; } }\n"
		}
		return data
	}
	t.Run("10,000 keys give 10,000 changes of one line each", func(t *testing.T) {
		f, err := rule.Mutate(context.Background(), createRequest(t, "", "v1", "ConfigMap", configMap(keys(10_000))))
		if err != nil || len(f) != 10_000 {
			t.Fatalf("%d findings, err %v", len(f), err)
		}
		for _, x := range f {
			if len(x.Message) > 1024 || len(x.Patch) != 1 || !strings.Contains(x.Patch[0].Value.(string), "{ proxy_http_version 1.1; proxy_pass") {
				t.Fatalf("finding %+v", x)
			}
		}
	})
	t.Run("20,000 keys that the change would take past 1 MiB are left as written, with a warning", func(t *testing.T) {
		f, err := rule.Mutate(context.Background(), createRequest(t, "", "v1", "ConfigMap", configMap(keys(20_000))))
		if err != nil || len(f) != 1 || f[0].Severity != policy.Advice || len(f[0].Patch) != 0 {
			t.Fatalf("findings %+v, err %v", f, err)
		}
		want := `ConfigMap "web" was left unchanged: 20000 of its values need proxy_http_version 1.1`
		if !strings.HasPrefix(f[0].Message, want) || !strings.Contains(f[0].Message, "would hold 1420000 bytes, over the 1048576 a ConfigMap may hold") {
			t.Errorf("message %q", f[0].Message)
		}
	})
	t.Run("a review out of time is no decision", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 0)
		defer cancel()
		_, err := rule.Mutate(ctx, createRequest(t, "", "v1", "ConfigMap", configMap(map[string]string{"a.conf": "server { location / { proxy_pass http://b; } }"})))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want one wrapping context.DeadlineExceeded so the webhook answers an HTTP error", err)
		}
	})
}

func TestHostileServiceEntryIsLinearAndBounded(t *testing.T) {
	hosts := []string{"metadata.google.internal"}
	addresses := []string{}
	for i := range 50_000 {
		hosts = append(hosts, fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
		if i%2 == 0 {
			addresses = append(addresses, fmt.Sprintf("10.%d.%d.%d/32", i>>16, (i>>8)&255, i&255))
		}
	}
	se := map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
		"metadata": map[string]any{"name": "many", "namespace": "my-app"},
		"spec":     map[string]any{"hosts": hosts, "addresses": addresses, "location": "MESH_EXTERNAL", "resolution": "NONE"}}
	f, err := GCEMetadataAddress{}.Mutate(context.Background(), createRequest(t, "networking.istio.io", "v1", "ServiceEntry", se))
	if err != nil || len(f) != 1 {
		t.Fatalf("findings %+v, err %v", f, err)
	}
	if len(f[0].Message) > 2048 || !strings.Contains(f[0].Message, "10.0.0.19 and 24990 more from spec.hosts to spec.addresses") || !strings.Contains(f[0].Message, "and 24990 more from spec.hosts (already") {
		t.Errorf("message of %d bytes: %.600s", len(f[0].Message), f[0].Message)
	}
	var gotHosts, gotAddresses []string
	for _, op := range f[0].Patch {
		switch op.Path {
		case "/spec/hosts":
			gotHosts = op.Value.([]string)
		case "/spec/addresses":
			gotAddresses = op.Value.([]string)
		}
	}
	if len(gotHosts) != 1 || len(gotAddresses) != 25_000+25_000+1 || gotAddresses[len(gotAddresses)-1] != GCEMetadataIP {
		t.Errorf("patch: %d hosts, %d addresses (last %q)", len(gotHosts), len(gotAddresses), gotAddresses[len(gotAddresses)-1])
	}
}

func TestConfigMapSizeCountsWhatTheAPIServerCounts(t *testing.T) {
	cm := configMapDoc{Data: map[string]string{"a": "0123456789", "b": "xy"}, BinaryData: map[string]string{"bin": "aGVsbG8=", "bin2": "aGk="}}
	if got := cm.size(map[string]string{"b": "wxyz"}); got != 10+4+5+2 {
		t.Errorf("size = %d, want values only, the changed one replacing its original and binaryData decoded: 21", got)
	}
}
