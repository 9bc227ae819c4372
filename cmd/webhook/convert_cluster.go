package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/pkg/convert"
)

// clusterScope says which Ingresses `webhook convert` reads from a cluster.
type clusterScope struct {
	kubeconfig, context string
	namespace           string
	all                 bool
	names               []string
}

// parseInterspersed parses flags that may follow positional arguments, as
// kubectl does (`convert web -n shop`), and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest, args = append(rest, args[0]), args[1:]
	}
}

// readCluster reads, with gets and lists only, the Ingresses of the scope,
// the Services of their namespaces (to resolve named ports) and the
// IngressClasses (to tell the controller behind a class). A client that may
// not list IngressClasses still converts: classes are then judged by name,
// and warn says so.
func readCluster(ctx context.Context, s clusterScope, warn func(string)) (*convert.Input, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = s.kubeconfig
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: s.context})
	cfg, err := kc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster to read: %w; pass --kubeconfig, set $KUBECONFIG, or convert files with -f", err)
	}
	ns := s.namespace
	if ns == "" && !s.all {
		if ns, _, err = kc.Namespace(); err != nil {
			return nil, fmt.Errorf("the kubeconfig's namespace: %w", err)
		}
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	in := &convert.Input{}
	if len(s.names) > 0 {
		for _, name := range s.names {
			ing := &networkingv1.Ingress{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ing); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("Ingress %q not found in namespace %q", name, ns)
				}
				return nil, fmt.Errorf("reading Ingress %s/%s: %w", ns, name, err)
			}
			in.Ingresses = append(in.Ingresses, ing)
		}
	} else {
		var list networkingv1.IngressList
		if err := c.List(ctx, &list, listIn(ns, s.all)...); err != nil {
			return nil, fmt.Errorf("listing Ingresses %s: %w", where(ns, s.all), err)
		}
		for i := range list.Items {
			in.Ingresses = append(in.Ingresses, &list.Items[i])
		}
	}
	if err := readServices(ctx, c, in, ns, s.all); err != nil {
		return nil, err
	}
	var classes networkingv1.IngressClassList
	switch err := c.List(ctx, &classes); {
	case apierrors.IsForbidden(err):
		warn("cannot list IngressClasses (forbidden): classes are judged by their names")
	case err != nil:
		return nil, fmt.Errorf("listing IngressClasses: %w", err)
	}
	for i := range classes.Items {
		in.IngressClasses = append(in.IngressClasses, &classes.Items[i])
	}
	return in, nil
}

// readServices reads the Services of the namespaces holding Ingresses.
func readServices(ctx context.Context, c client.Client, in *convert.Input, ns string, all bool) error {
	var namespaces []string
	if all {
		namespaces = []string{""}
	} else if len(in.Ingresses) > 0 {
		namespaces = []string{ns}
	}
	for _, n := range namespaces {
		var svcs corev1.ServiceList
		if err := c.List(ctx, &svcs, listIn(n, n == "")...); err != nil {
			if apierrors.IsForbidden(err) {
				return fmt.Errorf("listing Services %s (needed for backends that name a port): %w", where(n, n == ""), err)
			}
			return fmt.Errorf("listing Services %s: %w", where(n, n == ""), err)
		}
		for i := range svcs.Items {
			in.Services = append(in.Services, &svcs.Items[i])
		}
	}
	return nil
}

func listIn(ns string, all bool) []client.ListOption {
	if all {
		return nil
	}
	return []client.ListOption{client.InNamespace(ns)}
}

func where(ns string, all bool) string {
	if all {
		return "in all namespaces"
	}
	return fmt.Sprintf("in namespace %q", ns)
}

// defaultNamespace puts the objects of in that name no namespace into ns,
// as kubectl apply -n would.
func defaultNamespace(in *convert.Input, ns string) {
	for _, i := range in.Ingresses {
		if i.Namespace == "" {
			i.Namespace = ns
		}
	}
	for _, s := range in.Services {
		if s.Namespace == "" {
			s.Namespace = ns
		}
	}
}

func (s clusterScope) check(files []string) error {
	switch {
	case s.all && s.namespace != "":
		return errors.New("-A and -n: pass one of them")
	case s.all && len(s.names) > 0:
		return fmt.Errorf("-A with Ingress names (%s): names are read in one namespace, pass -n", s.names[0])
	case len(files) > 0 && (s.all || len(s.names) > 0 || s.kubeconfig != "" || s.context != ""):
		return errors.New("-f reads files; --kubeconfig, --context, -A and Ingress names read a cluster: pass one or the other")
	case slices.Contains(s.names, ""):
		return errors.New("an empty Ingress name")
	}
	return nil
}
