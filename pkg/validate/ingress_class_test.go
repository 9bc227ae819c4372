package validate

import (
	"context"
	"strings"
	"testing"
)

// classMap is IngressClasses over a name → controller map.
type classMap map[string]string

func (m classMap) IngressClassController(_ context.Context, name string) (string, bool, error) {
	c, ok := m[name]
	return c, ok, nil
}

// TestClassResolverFollowsIstio holds the resolver to Istio's own
// shouldProcessIngressWithClass for every meshConfig.ingressControllerMode
// and a custom meshConfig.ingressClass.
func TestClassResolverFollowsIstio(t *testing.T) {
	classes := classMap{"istio-gw": IstioIngressController, "nginx": "k8s.io/ingress-nginx"}
	annotated := func(class string) map[string]string { return map[string]string{IngressClassAnnotation: class} }
	name := func(s string) *string { return &s }
	type ingress struct {
		annotations map[string]string
		className   *string
	}
	ingresses := map[string]ingress{
		"annotation istio":           {annotated("istio"), nil},
		"annotation mesh-gw":         {annotated("mesh-gw"), nil},
		"annotation gce":             {annotated("gce"), nil},
		"class of Istio's":           {nil, name("istio-gw")},
		"class of nginx's":           {nil, name("nginx")},
		"class that does not exist":  {nil, name("gone")},
		"no class":                   {nil, nil},
		"annotation wins over class": {annotated("gce"), name("istio-gw")},
	}
	tests := []struct {
		istio  IstioIngress
		served []string // the ingresses Istio serves
	}{
		{IstioIngress{}, []string{"annotation istio", "class of Istio's"}},
		{IstioIngress{Mode: IngressModeStrict}, []string{"annotation istio", "class of Istio's"}},
		{IstioIngress{Class: "mesh-gw"}, []string{"annotation mesh-gw", "class of Istio's"}},
		{IstioIngress{Mode: IngressModeDefault}, []string{"annotation istio", "class of Istio's", "class that does not exist", "no class"}},
		// OFF ignores annotations and class-less Ingresses, but Istio's code
		// still takes an IngressClass naming its controller.
		{IstioIngress{Mode: IngressModeOff}, []string{"class of Istio's"}},
	}
	for _, tc := range tests {
		for what, ing := range ingresses {
			by, err := classResolver{classes, tc.istio}.resolve(context.Background(), ing.annotations, ing.className)
			if err != nil {
				t.Fatal(err)
			}
			want := false
			for _, s := range tc.served {
				want = want || s == what
			}
			if by.istio != want {
				t.Errorf("%+v, %s: served by Istio = %v, want %v (%s)", tc.istio, what, by.istio, want, by.desc)
			}
			if by.desc == "" {
				t.Errorf("%+v, %s: no description for the message", tc.istio, what)
			}
		}
	}
	off, _ := classResolver{classes, IstioIngress{Mode: IngressModeOff}}.resolve(context.Background(), annotated("istio"), nil)
	if !strings.Contains(off.desc, "ingressControllerMode is OFF") {
		t.Errorf("an Istio annotation Istio ignores must say why: %s", off.desc)
	}
}
