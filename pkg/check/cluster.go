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

	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/policy"
)

// offlineCluster builds the cluster the rules read from: the Namespaces and
// IngressClasses of the input, plus the namespace labels given on the command
// line, which win over the input's. Ingresses are left out: only a namespace
// UPDATE lists them, and check sends every object as a CREATE.
func offlineCluster(files []*File, flagged map[string]map[string]string) cluster.Reader {
	snap := &cluster.Snapshot{Namespaces: map[string]map[string]string{}, IngressClasses: map[string]*networkingv1.IngressClass{}}
	for _, f := range files {
		for _, o := range f.Objects {
			switch {
			case o.APIVersion == "v1" && o.Kind == "Namespace":
				var ns corev1.Namespace
				if json.Unmarshal(o.raw, &ns) == nil && ns.Name != "" {
					snap.Namespaces[ns.Name] = ns.Labels
				}
			case o.APIVersion == "networking.k8s.io/v1" && o.Kind == "IngressClass":
				ic := &networkingv1.IngressClass{}
				if json.Unmarshal(o.raw, ic) == nil && ic.Name != "" {
					snap.IngressClasses[ic.Name] = ic
				}
			}
		}
	}
	maps.Copy(snap.Namespaces, flagged)
	// No API fallback: offline, the snapshot is all there is.
	return cluster.Reader{Cache: missReader{snap}}
}

// missReader records, on the review's lookups, every object a rule asked
// for and did not find: offline, "not found" means "not in the input", which
// check reports instead of letting a rule take it as an answer.
type missReader struct{ client.Reader }

// Get implements client.Reader.
func (m missReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := m.Reader.Get(ctx, key, obj, opts...)
	if apierrors.IsNotFound(err) {
		if l := lookupsFrom(ctx); l != nil {
			rule, _ := ctx.Value(ruleKey{}).(string)
			l.miss(miss{kind: kindOf(obj), name: key.Name, rule: rule})
		}
	}
	return err
}

func kindOf(obj client.Object) string {
	switch o := obj.(type) {
	case *networkingv1.IngressClass:
		return "IngressClass"
	case *metav1.PartialObjectMetadata:
		return o.Kind
	}
	return obj.GetObjectKind().GroupVersionKind().Kind
}

// askingValidator and askingMutator run a rule with its ID in the context,
// so a miss names the rule that needed the object: the rules and the reader
// are shared by every review, so who asks travels with the call.
type (
	askingValidator struct{ policy.Validator }
	askingMutator   struct{ policy.Mutator }
)

// Validate implements policy.Validator.
func (r askingValidator) Validate(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	return r.Validator.Validate(context.WithValue(ctx, ruleKey{}, r.ID()), req)
}

// Mutate implements policy.Mutator.
func (r askingMutator) Mutate(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	return r.Mutator.Mutate(context.WithValue(ctx, ruleKey{}, r.ID()), req)
}

// asking wraps every rule of a RuleSet so it names itself on its lookups.
func asking(rules RuleSet) RuleSet {
	return func(c cluster.Reader) policy.Rules {
		var out policy.Rules
		rs := rules(c)
		for _, r := range rs.Validating {
			out.Validating = append(out.Validating, askingValidator{r})
		}
		for _, r := range rs.Mutating {
			out.Mutating = append(out.Mutating, askingMutator{r})
		}
		return out
	}
}

// lookups collects the misses of the review of one object; it travels in
// the context so the shared reviewer and reader need no per-object state.
type lookups struct {
	mu     sync.Mutex
	misses []miss
}

// miss is an object a rule asked for and the input does not hold.
type miss struct{ kind, name, rule string }

type lookupsKey struct{}

// ruleKey carries the ID of the rule being run, so a miss names who asked.
type ruleKey struct{}

func withLookups(ctx context.Context, l *lookups) context.Context {
	return context.WithValue(ctx, lookupsKey{}, l)
}

func lookupsFrom(ctx context.Context) *lookups {
	l, _ := ctx.Value(lookupsKey{}).(*lookups)
	return l
}

func (l *lookups) miss(m miss) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A rule may ask for the same object more than once (one class for
	// several Ingresses): one miss each.
	if !slices.Contains(l.misses, m) {
		l.misses = append(l.misses, m)
	}
}

func (l *lookups) missed(kind string) bool {
	return slices.ContainsFunc(l.misses, func(m miss) bool { return m.kind == kind })
}
