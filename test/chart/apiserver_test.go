package chart

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestWebhooksOnARealAPIServer installs the rendered webhook configurations
// on a real kube-apiserver (which compiles their match conditions), points
// every entry at a recorder, and checks which entry the API server calls for
// which write: exactly one per request meshguard must see, none otherwise.
func TestWebhooksOnARealAPIServer(t *testing.T) {
	assets := kubebuilderAssets(t)
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{serviceEntryCRD()}},
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane from %s: %v", assets, err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rec := startRecorder(t)

	namespaces := map[string]map[string]string{
		"injected":          {"istio-injection": "enabled"},
		"revision":          {"istio.io/rev": "canary"},
		"ambient":           {"istio.io/dataplane-mode": "ambient"},
		"ambient-injected":  {"istio.io/dataplane-mode": "ambient", "istio-injection": "enabled"},
		"injection-off":     {"istio-injection": "disabled", "istio.io/rev": "default"},
		"plain":             nil,
		"joins":             nil,
		releaseNS:           {"istio-injection": "enabled"},
		"excluded-by-value": {"istio-injection": "enabled"},
	}
	for name, l := range namespaces {
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}))
	}
	m := render(t, values(t, "excludedNamespaces: [excluded-by-value]"))
	install(ctx, t, c, m, rec)
	rec.reset() // creating the namespaces above must not have called anything either

	proxyPass := map[string]string{"default.conf": "server { location / { proxy_pass http://backend; } }"}
	type write struct {
		obj  func(ns string) client.Object
		want map[string]string // namespace → the entry that must be called, alone
	}
	meshed := func(family string) map[string]string {
		return map[string]string{
			"injected": "injection." + family, "revision": "revision." + family,
			"ambient": "ambient." + family, "ambient-injected": "ambient." + family,
		}
	}
	writes := map[string]write{
		"an Ingress reaches one ingress entry in mesh namespaces only": {
			obj:  func(ns string) client.Object { return ingress(ns) },
			want: meshed("ingress.validate.meshguard.dev"),
		},
		"a ConfigMap with proxy_pass reaches one configmap entry in mesh namespaces only": {
			obj:  func(ns string) client.Object { return configMap(ns, proxyPass) },
			want: meshed("configmap.mutate.meshguard.dev"),
		},
		"a ConfigMap without nginx configuration reaches nothing": {
			obj:  func(ns string) client.Object { return configMap(ns, map[string]string{"a": "b"}) },
			want: map[string]string{},
		},
		"a metadata ServiceEntry reaches the serviceentry entry in any reviewed namespace": {
			obj: func(ns string) client.Object { return serviceEntryObject(ns, "metadata.google.internal") },
			want: map[string]string{
				"injected": serviceEntry, "revision": serviceEntry, "ambient": serviceEntry, "ambient-injected": serviceEntry,
				"injection-off": serviceEntry, "plain": serviceEntry, "joins": serviceEntry,
			},
		},
		"another ServiceEntry reaches nothing": {
			obj:  func(ns string) client.Object { return serviceEntryObject(ns, "storage.googleapis.com") },
			want: map[string]string{},
		},
	}
	for name, w := range writes {
		t.Run(name, func(t *testing.T) {
			for _, ns := range slices.Sorted(maps.Keys(namespaces)) {
				rec.reset()
				must(t, c.Create(ctx, w.obj(ns)))
				got := rec.calls()
				var want []string
				if e, ok := w.want[ns]; ok {
					want = []string{e}
				}
				if !slices.Equal(got, want) {
					t.Errorf("namespace %s: calls %v, want %v", ns, got, want)
				}
			}
		})
	}

	t.Run("a namespace joining the mesh reaches the namespace entry once, other namespace updates nothing", func(t *testing.T) {
		steps := []struct {
			labels map[string]string
			want   []string
		}{
			{map[string]string{"team": "shop"}, nil},
			{map[string]string{"team": "shop", "istio-injection": "enabled"}, []string{namespaceEntry}},
			{map[string]string{"team": "shop", "istio-injection": "enabled", "istio.io/rev": "canary"}, nil},
			{map[string]string{"team": "shop"}, nil},
			{map[string]string{"istio.io/dataplane-mode": "ambient"}, []string{namespaceEntry}},
		}
		for i, s := range steps {
			ns := &corev1.Namespace{}
			must(t, c.Get(ctx, client.ObjectKey{Name: "joins"}, ns))
			ns.Labels = maps.Clone(s.labels)
			ns.Labels["kubernetes.io/metadata.name"] = "joins"
			rec.reset()
			must(t, c.Update(ctx, ns))
			if got := rec.calls(); !slices.Equal(got, s.want) {
				t.Errorf("step %d (labels %v): calls %v, want %v", i, s.labels, got, s.want)
			}
		}
	})
}

// install creates the rendered configurations with every entry pointed at
// the recorder under its own name, failing closed so that a match
// condition that errors at runtime fails the write instead of hiding.
func install(ctx context.Context, t *testing.T, c client.Client, m *manifests, rec *recorder) {
	t.Helper()
	point := func(name string, cc *admissionregistrationv1.WebhookClientConfig) {
		*cc = admissionregistrationv1.WebhookClientConfig{URL: ptr.To(rec.url + "/" + name), CABundle: rec.caPEM}
	}
	fail := admissionregistrationv1.Fail
	v, mu := m.Validating.DeepCopy(), m.Mutating.DeepCopy()
	for i := range v.Webhooks {
		point(v.Webhooks[i].Name, &v.Webhooks[i].ClientConfig)
		v.Webhooks[i].FailurePolicy = &fail
	}
	for i := range mu.Webhooks {
		point(mu.Webhooks[i].Name, &mu.Webhooks[i].ClientConfig)
		mu.Webhooks[i].FailurePolicy = &fail
	}
	must(t, c.Create(ctx, v))
	must(t, c.Create(ctx, mu))
	// The API server's webhook informers see new configurations shortly
	// after they are created; probe until a meshed Ingress reaches one.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		rec.reset()
		must(t, c.Create(ctx, ingress("injected")))
		if len(rec.calls()) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the API server never called the installed webhooks")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ingress(ns string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: ns},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}},
		}},
	}
}

func configMap(ns string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "cm-", Namespace: ns}, Data: data}
}

func serviceEntryObject(ns, host string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
		"metadata": map[string]any{"generateName": "se-", "namespace": ns},
		"spec":     map[string]any{"hosts": []any{host}, "resolution": "DNS"},
	}}
	return u
}

// serviceEntryCRD is enough of Istio's CRD for admission: the three served
// versions, any spec.
func serviceEntryCRD() *apiextensionsv1.CustomResourceDefinition {
	version := func(name string, storage bool) apiextensionsv1.CustomResourceDefinitionVersion {
		return apiextensionsv1.CustomResourceDefinitionVersion{
			Name: name, Served: true, Storage: storage,
			Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
				Type: "object", XPreserveUnknownFields: ptr.To(true),
			}},
		}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "serviceentries.networking.istio.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "networking.istio.io", Scope: apiextensionsv1.NamespaceScoped,
			Names:    apiextensionsv1.CustomResourceDefinitionNames{Plural: "serviceentries", Singular: "serviceentry", Kind: "ServiceEntry", ListKind: "ServiceEntryList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{version("v1", true), version("v1beta1", false), version("v1alpha3", false)},
		},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("%w", err))
	}
}
