package check

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/policy"
)

// offlineCluster builds the cluster the rules read from: the Namespaces and
// IngressClasses of the input, plus the namespace labels given on the command
// line, which win over the input's. Ingresses are left out: only a namespace
// UPDATE lists them, and check sends every object as a CREATE.
func offlineCluster(files []*File, flagged map[string]map[string]string) cluster.Reader {
	namespaces := map[string]map[string]string{}
	objs := map[string]client.Object{}
	for _, f := range files {
		for _, o := range f.Objects {
			switch {
			case o.APIVersion == "v1" && o.Kind == "Namespace":
				var ns corev1.Namespace
				if json.Unmarshal(o.raw, &ns) == nil && ns.Name != "" {
					namespaces[ns.Name] = ns.Labels
				}
			case o.APIVersion == "networking.k8s.io/v1" && o.Kind == "IngressClass":
				ic := &networkingv1.IngressClass{}
				if json.Unmarshal(o.raw, ic) == nil && ic.Name != "" {
					objs["IngressClass/"+ic.Name] = ic
				}
			}
		}
	}
	maps.Copy(namespaces, flagged)
	for _, name := range slices.Sorted(maps.Keys(namespaces)) {
		objs["Namespace/"+name] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: namespaces[name]}}
	}
	c := fake.NewClientBuilder().WithObjects(slices.Collect(maps.Values(objs))...).Build()
	r := missReader{c}
	return cluster.Reader{Cache: r, API: r}
}

// missReader records, on the review's recorder, every object a rule asked
// for and did not find: offline, "not found" means "not in the input", which
// check reports instead of letting a rule take it as an answer.
type missReader struct{ client.Reader }

// Get implements client.Reader.
func (m missReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := m.Reader.Get(ctx, key, obj, opts...)
	if apierrors.IsNotFound(err) {
		if rec := recorderFrom(ctx); rec != nil {
			rule, _ := ctx.Value(ruleKey{}).(string)
			rec.miss(miss{kind: kindOf(obj), name: key.Name, rule: rule})
		}
	}
	return err
}

func kindOf(obj client.Object) string {
	switch o := obj.(type) {
	case *networkingv1.IngressClass:
		return "IngressClass"
	case *corev1.Namespace:
		return "Namespace"
	case *metav1.PartialObjectMetadata:
		return o.Kind
	}
	return obj.GetObjectKind().GroupVersionKind().Kind
}

// recorder collects what happens during the review of one object; it travels
// in the context so the shared engines and readers need no per-object state.
type recorder struct {
	mu       sync.Mutex
	findings []recorded
	misses   []miss
}

// miss is an object a rule asked for and the input does not hold.
type miss struct{ kind, name, rule string }

type recorded struct {
	rule    string
	finding policy.Finding
}

type recorderKey struct{}

// ruleKey carries the ID of the rule being run, so a miss names who asked.
type ruleKey struct{}

func withRecorder(ctx context.Context, r *recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

func recorderFrom(ctx context.Context) *recorder {
	r, _ := ctx.Value(recorderKey{}).(*recorder)
	return r
}

func (r *recorder) add(rule string, fs []policy.Finding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range fs {
		r.findings = append(r.findings, recorded{rule, f})
	}
}

func (r *recorder) miss(m miss) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The cluster reader asks its cache, then the API reader: one miss each.
	if !slices.Contains(r.misses, m) {
		r.misses = append(r.misses, m)
	}
}

func (r *recorder) missed(kind string) bool {
	return slices.ContainsFunc(r.misses, func(m miss) bool { return m.kind == kind })
}
