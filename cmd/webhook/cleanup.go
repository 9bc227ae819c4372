package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// removeWebhooks is `webhook remove-webhooks`: it deletes meshguard's webhook
// configurations. The chart runs it as a pre-delete hook, so that on
// `helm uninstall` the API server stops calling meshguard before its Service
// and Deployment go (Helm deletes webhook configurations last), and no write
// fails under failurePolicy Fail in between.
func removeWebhooks(prog string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("remove-webhooks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then the in-cluster config)")
	validating := fs.String("validating-webhook-configuration", "", "name of the ValidatingWebhookConfiguration to delete")
	mutating := fs.String("mutating-webhook-configuration", "", "name of the MutatingWebhookConfiguration to delete")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, as(prog, "usage: webhook remove-webhooks --validating-webhook-configuration NAME --mutating-webhook-configuration NAME\n\nDeletes meshguard's webhook configurations (missing ones count as deleted), so the API server stops calling it; the chart runs it before helm uninstall removes the rest.\n\nFlags:"))
		printFlags(stderr, fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *validating == "" && *mutating == "" {
		fs.Usage()
		return 2
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "remove-webhooks: %v\n", err)
		return 2
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "remove-webhooks: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	api := cs.AdmissionregistrationV1()
	for _, d := range []struct {
		kind, name string
		del        func(context.Context, string, metav1.DeleteOptions) error
	}{
		{"ValidatingWebhookConfiguration", *validating, api.ValidatingWebhookConfigurations().Delete},
		{"MutatingWebhookConfiguration", *mutating, api.MutatingWebhookConfigurations().Delete},
	} {
		if d.name == "" {
			continue
		}
		switch err := d.del(ctx, d.name, metav1.DeleteOptions{}); {
		case apierrors.IsNotFound(err):
			fmt.Fprintf(stdout, "%s %s: already gone\n", d.kind, d.name)
		case err != nil:
			fmt.Fprintf(stderr, "remove-webhooks: deleting %s %s: %v\n", d.kind, d.name, err)
			return 1
		default:
			fmt.Fprintf(stdout, "%s %s: deleted\n", d.kind, d.name)
		}
	}
	return 0
}
