package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// ChartDir is the Helm chart, relative to the repository root.
const ChartDir = "deploy/charts/meshguard"

// ChartRelease and ChartNamespace are the release RenderChart renders. The
// chart names both webhook configurations after its fullname, which for
// this release name is the release name itself.
const (
	ChartRelease   = "meshguard"
	ChartNamespace = "meshguard-system"
)

// ChartWebhooks are the webhook configurations of one rendering of the
// chart. Either is nil when the values turn all of its rules off.
type ChartWebhooks struct {
	Validating *admissionregistrationv1.ValidatingWebhookConfiguration
	Mutating   *admissionregistrationv1.MutatingWebhookConfiguration
}

// ParseChartWebhooks picks the webhook configurations out of a stream of
// YAML documents, decoding them strictly.
func ParseChartWebhooks(manifests []byte) (ChartWebhooks, error) {
	var out ChartWebhooks
	for _, doc := range strings.Split(string(manifests), "\n---") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return out, fmt.Errorf("rendered chart: %w\n%s", err, doc)
		}
		var into any
		switch meta.Kind {
		case "ValidatingWebhookConfiguration":
			out.Validating = &admissionregistrationv1.ValidatingWebhookConfiguration{}
			into = out.Validating
		case "MutatingWebhookConfiguration":
			out.Mutating = &admissionregistrationv1.MutatingWebhookConfiguration{}
			into = out.Mutating
		default:
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			return out, fmt.Errorf("rendered %s: %w\n%s", meta.Kind, err, doc)
		}
	}
	return out, nil
}

// clientConfigs are the clientConfigs of every entry of both configurations,
// with the entries' names.
func (c ChartWebhooks) clientConfigs() (names []string, ccs []*admissionregistrationv1.WebhookClientConfig) {
	if v := c.Validating; v != nil {
		for i := range v.Webhooks {
			names, ccs = append(names, v.Webhooks[i].Name), append(ccs, &v.Webhooks[i].ClientConfig)
		}
	}
	if m := c.Mutating; m != nil {
		for i := range m.Webhooks {
			names, ccs = append(names, m.Webhooks[i].Name), append(ccs, &m.Webhooks[i].ClientConfig)
		}
	}
	return names, ccs
}

// PointAt points every entry at w by URL instead of the chart's Service,
// keeping the rendered path, with w.CABundle (or, when w has none because it
// manages its own certificate, the rendered caBundle). Everything else the
// API server uses (rules, namespaceSelectors, matchConditions,
// failurePolicy, timeouts) stays the chart's.
func (c ChartWebhooks) PointAt(w *Webhook) error {
	names, ccs := c.clientConfigs()
	for i, cc := range ccs {
		if cc.Service == nil || cc.Service.Path == nil {
			return fmt.Errorf("webhook %s: rendered clientConfig has no service path: %+v", names[i], cc)
		}
		*cc = admissionregistrationv1.WebhookClientConfig{
			URL:      ptr.To(w.URL(*cc.Service.Path)),
			CABundle: bytes.Clone(cmpBytes(w.CABundle, cc.CABundle)),
		}
	}
	return nil
}

func cmpBytes(a, b []byte) []byte {
	if a != nil {
		return a
	}
	return b
}

// objects are the non-nil configurations.
func (c ChartWebhooks) objects() []client.Object {
	var objs []client.Object
	if c.Validating != nil {
		objs = append(objs, c.Validating)
	}
	if c.Mutating != nil {
		objs = append(objs, c.Mutating)
	}
	return objs
}

// Apply creates the configurations, or replaces those that exist. It
// writes copies: c stays as rendered.
func (c ChartWebhooks) Apply(ctx context.Context, cl client.Client) error {
	for _, obj := range c.objects() {
		obj = obj.DeepCopyObject().(client.Object)
		err := cl.Create(ctx, obj)
		if apierrors.IsAlreadyExists(err) {
			old := obj.DeepCopyObject().(client.Object)
			if err = cl.Get(ctx, client.ObjectKeyFromObject(obj), old); err == nil {
				obj.SetResourceVersion(old.GetResourceVersion())
				err = cl.Update(ctx, obj)
			}
		}
		if err != nil {
			return fmt.Errorf("apply %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// Delete deletes the configurations; missing ones are not an error.
func (c ChartWebhooks) Delete(ctx context.Context, cl client.Client) error {
	var errs []error
	for _, obj := range c.objects() {
		if err := cl.Delete(ctx, obj.DeepCopyObject().(client.Object)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete %T %s: %w", obj, obj.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// String describes the entries with their failure policies, for logs.
func (c ChartWebhooks) String() string {
	var names []string
	if c.Validating != nil {
		for _, w := range c.Validating.Webhooks {
			names = append(names, fmt.Sprintf("%s(%s)", w.Name, ptr.Deref(w.FailurePolicy, "")))
		}
	}
	if c.Mutating != nil {
		for _, w := range c.Mutating.Webhooks {
			names = append(names, fmt.Sprintf("%s(%s)", w.Name, ptr.Deref(w.FailurePolicy, "")))
		}
	}
	return strings.Join(names, " ")
}
