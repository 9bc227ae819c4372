package chart

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshguard/meshguard/pkg/mesh"
)

// namespaceLabelSets enumerates every combination of the mesh labels that
// matters to Istio's selectors (absent, the enabling value, another value).
func namespaceLabelSets() []map[string]string {
	var sets []map[string]string
	for _, injection := range []string{"", "enabled", "disabled"} {
		for _, rev := range []string{"", "default", "canary"} {
			for _, dataplane := range []string{"", "ambient", "none"} {
				l := map[string]string{}
				for k, v := range map[string]string{mesh.InjectionLabel: injection, mesh.RevisionLabel: rev, mesh.DataplaneLabel: dataplane} {
					if v != "" {
						l[k] = v
					}
				}
				sets = append(sets, l)
			}
		}
	}
	return sets
}

// TestMeshSelectorsMatchThePredicateOnce checks the webhook entries of the
// namespace-scoped rules against pkg/mesh, the predicate the rules use: a
// request in a mesh-enabled namespace reaches exactly one entry (never two,
// which would double warnings, audit annotations and decision counts), and
// a request elsewhere reaches none.
func TestMeshSelectorsMatchThePredicateOnce(t *testing.T) {
	for _, byDefault := range []bool{false, true} {
		m := render(t, values(t, fmt.Sprintf("meshByDefault: %v\nexcludedNamespaces: [legacy]", byDefault)))
		for _, family := range []string{".ingress.validate.meshguard.dev", ".configmap.mutate.meshguard.dev"} {
			selectors := map[string]labels.Selector{}
			for name, w := range m.webhooks() {
				if strings.HasSuffix(name, family) {
					s, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					selectors[name] = s
				}
			}
			opts := mesh.Options{ByDefault: byDefault, SystemNamespaces: []string{releaseNS, "legacy"}}
			for _, ns := range []string{"shop", "kube-public", "kube-system", releaseNS, "legacy"} {
				for _, l := range namespaceLabelSets() {
					withName := maps.Clone(l)
					withName["kubernetes.io/metadata.name"] = ns
					var matched []string
					for name, s := range selectors {
						if s.Matches(labels.Set(withName)) {
							matched = append(matched, name)
						}
					}
					want := 0
					if mesh.Check(ns, l, opts).Meshed && !excludedAlways(ns) {
						want = 1
					}
					if len(matched) != want {
						t.Errorf("meshByDefault=%v, namespace %s with labels %v: entries %v match, want %d (mesh.Check: %+v)",
							byDefault, ns, l, matched, want, mesh.Check(ns, l, opts))
					}
				}
			}
		}
	}
}

// excludedAlways are the namespaces no entry reviews, whatever their labels.
func excludedAlways(ns string) bool {
	switch ns {
	case "kube-system", "kube-node-lease", releaseNS, "legacy":
		return true
	}
	return false
}
