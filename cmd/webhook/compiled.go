package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/meshguard/meshguard/certs"
	"github.com/meshguard/meshguard/pkg/policies"
	"github.com/meshguard/meshguard/pkg/policysync"
	"github.com/meshguard/meshguard/pkg/server"
)

// compiledFlags hand rules to the API server as compiled admission policies.
type compiledFlags struct {
	rules string
	owner string
}

func addCompiledFlags(fs *flag.FlagSet) *compiledFlags {
	c := &compiledFlags{}
	fs.StringVar(&c.rules, "compiled-rules", "", "comma-separated rules the API server enforces itself through the admission policies the leader compiles from them and keeps in sync (compilable: "+strings.Join(policies.Compilable, ", ")+"); the chart sets it from engine, and its webhook configurations then leave those kinds out")
	fs.StringVar(&c.owner, "compiled-policies-owner", "", "name of the ValidatingWebhookConfiguration that owns the compiled policies, their bindings and parameters (deleting it removes them); also their name prefix")
	return c
}

// wire adds the policy sync for the compiled rules, if any; base carries
// what the policies share with the webhook (modes, exemptions, mesh,
// Istio, excluded namespaces).
func (c *compiledFlags) wire(o server.Options, base policies.Options) (server.Options, error) {
	rules := splitList(c.rules)
	if len(rules) == 0 {
		return o, nil
	}
	for _, r := range rules {
		if !slices.Contains(policies.Compilable, r) {
			return o, fmt.Errorf("--compiled-rules: %s cannot be compiled (compilable: %s)", r, strings.Join(policies.Compilable, ", "))
		}
	}
	if c.owner == "" {
		return o, errors.New("--compiled-rules needs --compiled-policies-owner: the ValidatingWebhookConfiguration that owns the policies, so an uninstall removes them")
	}
	base.Rules, base.Name = rules, c.owner
	if base.Namespace == "" {
		base.Namespace = certs.DefaultNamespace()
	}
	if base.Namespace == "" {
		return o, errors.New("--compiled-rules keeps the policies' parameters in meshguard's namespace, which is unknown: set $POD_NAMESPACE (the chart does) or --leader-election-namespace")
	}
	o.AddOns = append(o.AddOns, server.AddOn{Name: "the compiled admission policies", Setup: func(h server.Host) error {
		reader := h.GetClient()
		_, err := policysync.Setup(h.Manager, policysync.Options{
			Owner:    c.owner,
			Interval: time.Minute,
			Build: func(ctx context.Context) ([]*unstructured.Unstructured, error) {
				var classes networkingv1.IngressClassList
				if err := reader.List(ctx, &classes); err != nil {
					return nil, fmt.Errorf("listing IngressClasses for the policies' parameters: %w", err)
				}
				opts := base
				opts.IngressClasses = classes.Items
				return policies.Compile(opts)
			},
			Watch: []client.Object{
				&networkingv1.IngressClass{},
				&admissionregistrationv1.ValidatingAdmissionPolicy{},
				&admissionregistrationv1.ValidatingAdmissionPolicyBinding{},
				&admissionregistrationv1.MutatingAdmissionPolicy{},
				&admissionregistrationv1.MutatingAdmissionPolicyBinding{},
			},
			Log:      o.Log.WithName("compiled-policies"),
			Registry: metrics.Registry,
		})
		return err
	}})
	return o, nil
}
