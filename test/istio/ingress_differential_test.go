package istio

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/config/kube/ingress"
	kubecontroller "istio.io/istio/pilot/pkg/serviceregistry/kube/controller"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/krt"
	"istio.io/istio/pkg/test"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshguard/meshguard/pkg/convert"
)

// probe is one request of the differential test.
type probe struct{ scheme, host, path string }

// istioTranslation runs Istio's own Ingress translation (the ingress
// controller of pilot/pkg/config/kube/ingress, on a fake cluster holding
// ing and svcs) and returns the Gateways and VirtualServices it derives.
// The Ingress goes in without its class, so that istiod (ingress controller
// mode DEFAULT) serves it whatever controller it was written for.
func istioTranslation(t *testing.T, ing *networkingv1.Ingress, in *convert.Input) []config.Config {
	t.Helper()
	ing = ing.DeepCopy()
	delete(ing.Annotations, "kubernetes.io/ingress.class")
	ing.Spec.IngressClassName = nil
	objs := []runtime.Object{ing}
	for _, s := range in.Services {
		s = s.DeepCopy()
		if s.Namespace == "" {
			s.Namespace = convert.DefaultNamespace
		}
		objs = append(objs, s)
	}
	kc := kube.NewFakeClient(objs...)
	stop := test.NewStop(t)
	c := ingress.NewController(kc,
		meshwatcher.NewTestWatcher(&meshconfig.MeshConfig{IngressControllerMode: meshconfig.MeshConfig_DEFAULT}),
		kubecontroller.Options{DomainSuffix: "cluster.local", KrtDebugger: krt.GlobalDebugHandler}, nil)
	kc.RunAndWait(stop)
	go c.Run(stop)
	if !kube.WaitForCacheSync("ingress", stop, c.HasSynced) {
		t.Fatal("Istio's ingress controller did not sync")
	}
	out := append(c.List(gvk.Gateway, ""), c.List(gvk.VirtualService, "")...)
	if len(out) == 0 {
		t.Fatalf("Istio's ingress controller derived nothing from %s/%s", ing.Namespace, ing.Name)
	}
	return out
}

// meshguardTranslation converts ing alone (with the Services and
// IngressClasses of its file) --to istio and reads the objects as istiod
// does.
func meshguardTranslation(t *testing.T, ing *networkingv1.Ingress, in *convert.Input) (*convert.Result, []config.Config) {
	t.Helper()
	one := &convert.Input{Ingresses: []*networkingv1.Ingress{ing}, Services: in.Services, IngressClasses: in.IngressClasses, Retired: in.Retired}
	res := convert.Convert(one, convert.Options{To: convert.TargetIstio})
	var b bytes.Buffer
	if err := res.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	if b.Len() == 0 {
		return res, nil
	}
	return res, istioConfigs(t, b.Bytes())
}

// probes are the requests for an Ingress: for each host of its rules (a
// name under a wildcard, an unknown name for the rules without host), each
// path of its rules as itself, with "/", "/x" and "x" appended, and "/";
// over HTTP and HTTPS.
func probes(ing *networkingv1.Ingress) []probe {
	var hosts, paths []string
	add := func(list []string, s string) []string {
		if slices.Contains(list, s) {
			return list
		}
		return append(list, s)
	}
	for _, r := range ing.Spec.Rules {
		h := r.Host
		switch {
		case h == "":
			h = "unknown.example.org"
		case strings.HasPrefix(h, "*."):
			h = "a" + h[1:]
		}
		hosts = add(hosts, h)
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			for _, x := range []string{p.Path, p.Path + "/", p.Path + "/x", p.Path + "x", "/"} {
				if strings.HasPrefix(x, "/") {
					paths = add(paths, x)
				}
			}
		}
	}
	if len(hosts) == 0 {
		hosts = []string{"unknown.example.org"}
	}
	paths = add(paths, "/")
	var out []probe
	for _, scheme := range []string{"http", "https"} {
		for _, h := range hosts {
			for _, p := range paths {
				out = append(out, probe{scheme, h, p})
			}
		}
	}
	return out
}

// TestRoutingMatchesIstiosIngressTranslation converts every Ingress of the
// golden inputs twice, with Istio's own Ingress translation and with
// meshguard --to istio, and compares where each probe request goes: the
// destination (Service host and port), a redirect, 500 or 404. Every
// difference must be one of knownDifferences, and the meshguard report
// must name it.
func TestRoutingMatchesIstiosIngressTranslation(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(convertDir, "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	compared := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in := &convert.Input{}
		if err := in.Read(f, data); err != nil {
			t.Fatal(err)
		}
		for _, ing := range in.Ingresses {
			if ing.Namespace == "" {
				ing.Namespace = convert.DefaultNamespace
			}
			t.Run(strings.TrimSuffix(filepath.Base(f), ".in.yaml")+"/"+ing.Name, func(t *testing.T) {
				theirs := istioTranslation(t, ing, in)
				res, ours := meshguardTranslation(t, ing, in)
				for _, p := range probes(ing) {
					want := routeRequest(theirs, p.scheme, p.host, p.path)
					got := routeRequest(ours, p.scheme, p.host, p.path)
					compared++
					if got == want {
						continue
					}
					d := classify(ing, res, p, got, want)
					if d == nil {
						t.Errorf("%s://%s%s: Istio's translation → %s, meshguard → %s, and no known difference explains it", p.scheme, p.host, p.path, want, got)
						continue
					}
					seen[d.name]++
					if !d.reported(res, ing) {
						t.Errorf("%s://%s%s: Istio's translation → %s, meshguard → %s (%s: %s), but the report does not say so: %+v", p.scheme, p.host, p.path, want, got, d.name, d.reason, res.Report.Entries)
					}
				}
			})
		}
	}
	if compared < 100 {
		t.Errorf("compared %d probes; the goldens' inputs should give more", compared)
	}
	for _, d := range knownDifferences {
		if seen[d.name] == 0 {
			t.Errorf("known difference %q never occurs in the goldens' inputs: drop it or add an input that shows it", d.name)
		}
		t.Logf("%s: %d probes", d.name, seen[d.name])
	}
}
