package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/meshguard/meshguard/certs"
	"github.com/meshguard/meshguard/pkg/server"
)

// certFlags choose where the serving certificate comes from (package certs);
// the Helm chart sets them per certificates.mode.
type certFlags struct {
	mode, secret, namespace, service, validating, mutating string
	extraDNSNames                                          string
	validity, renewBefore, checkInterval                   time.Duration
}

func addCertFlags(fs *flag.FlagSet) *certFlags {
	c := &certFlags{}
	fs.StringVar(&c.mode, "cert-mode", string(certs.External), "where tls.crt and tls.key in --cert-dir come from: external (someone else writes them, e.g. a mounted Secret) or self (generate a CA and serving certificate, keep them in --cert-secret, inject the CA into the webhook configurations, rotate)")
	fs.StringVar(&c.secret, "cert-secret", "", "self mode: Secret that stores the CA and serving certificate; it must exist (the Helm chart creates it empty)")
	fs.StringVar(&c.namespace, "cert-namespace", "", "self mode: namespace of --cert-secret (default: $POD_NAMESPACE, then the service account's namespace)")
	fs.StringVar(&c.service, "webhook-service", "", "self mode: DNS name the API server calls, <service>.<namespace>.svc; the serving certificate is issued for it")
	fs.StringVar(&c.extraDNSNames, "cert-dns-names", "", "self mode: comma-separated further DNS names for the serving certificate (e.g. localhost when the API server calls a URL); applied when the certificate is next issued")
	fs.StringVar(&c.validating, "validating-webhook-configuration", "", "self mode: ValidatingWebhookConfiguration that gets the CA as caBundle")
	fs.StringVar(&c.mutating, "mutating-webhook-configuration", "", "self mode: MutatingWebhookConfiguration that gets the CA as caBundle")
	fs.DurationVar(&c.validity, "cert-validity", certs.DefaultValidity, "self mode: validity of a generated serving certificate")
	fs.DurationVar(&c.renewBefore, "cert-renew-before", certs.DefaultRenewBefore, "self mode: replace the serving certificate (and the CA) this long before it expires")
	fs.DurationVar(&c.checkInterval, "cert-check-interval", certs.DefaultCheckInterval, "self mode: how often expiry is checked; a change of the Secret is checked at once")
	return c
}

// wire validates the certificate flags and plugs their provider into o.
func (c *certFlags) wire(o server.Options) (server.Options, error) {
	mode, err := certs.ParseMode(c.mode)
	if err != nil {
		return o, fmt.Errorf("--cert-mode: %w", err)
	}
	ns := c.namespace
	if ns == "" && mode == certs.Self {
		ns = certs.DefaultNamespace()
	}
	p, err := certs.New(certs.Config{
		Mode: mode, Dir: o.CertDir,
		Secret: c.secret, Namespace: ns, Service: c.service, ExtraDNSNames: splitList(c.extraDNSNames),
		ValidatingWebhookConfiguration: c.validating, MutatingWebhookConfiguration: c.mutating,
		Validity: c.validity, RenewBefore: c.renewBefore, CheckInterval: c.checkInterval,
	}, o.Log.WithName("certs"))
	if err != nil {
		return o, err
	}
	o.TLSOpts = append(o.TLSOpts, p.ConfigureTLS)
	o.AddOns = append(o.AddOns, server.AddOn{Name: "the serving certificates", Setup: func(h server.Host) error { return p.Setup(h.Manager) }})
	return o, nil
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
