// Package certs provides the webhook server's TLS certificate.
//
// In every mode the server serves tls.crt and tls.key from one directory,
// reloads them when they change (a Secret volume's atomic symlink swap, or a
// file written in place) and exports the served certificate's expiry as
// meshguard_cert_expiry_timestamp_seconds.
//
// Where the files come from is the mode:
//   - external: someone else writes them (a cert-manager or user-provided
//     Secret mounted as a volume, or files on disk);
//   - self: meshguard generates a CA and a serving certificate with
//     github.com/open-policy-agent/cert-controller, keeps them in a Secret,
//     injects the CA into its webhook configurations, rotates the serving
//     certificate well before it expires and writes it into the directory.
package certs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Mode says where the serving certificate comes from.
type Mode string

// The certificate modes.
const (
	// External reads tls.crt and tls.key from the directory and nothing else.
	External Mode = "external"
	// Self generates, stores, injects and rotates the certificate itself.
	Self Mode = "self"
)

// ParseMode accepts external and self.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case External, Self:
		return m, nil
	}
	return "", fmt.Errorf("unknown certificate mode %q: use external (read tls.crt and tls.key from --cert-dir) or self (generate and rotate them)", s)
}

// File names in the certificate directory; the same keys as a kubernetes.io/tls Secret.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// Rotation defaults: the serving certificate lives a year and is replaced a
// quarter before it expires, so a rotation that fails is retried for months
// before anything breaks. The CA lives ten years; see Config.
const (
	DefaultValidity      = 365 * 24 * time.Hour
	DefaultRenewBefore   = 90 * 24 * time.Hour
	DefaultCheckInterval = 12 * time.Hour
	caValidity           = 10 * 365 * 24 * time.Hour
)

// Config is what `webhook serve` passes to New.
type Config struct {
	Mode Mode
	// Dir holds tls.crt and tls.key.
	Dir string

	// The rest applies to Self only.

	// Secret is the name of the Secret that stores the CA and the serving
	// certificate; it must exist (the Helm chart creates it empty) so that
	// meshguard needs no permission to create Secrets.
	Secret string
	// Namespace of the Secret; DefaultNamespace finds the pod's own.
	Namespace string
	// Service is the DNS name the API server calls, <service>.<namespace>.svc.
	Service string
	// ExtraDNSNames are further names in the serving certificate, e.g. the
	// .cluster.local form, or localhost for a webhook called by URL in tests.
	// A change takes effect when the certificate is next issued.
	ExtraDNSNames []string
	// ValidatingWebhookConfiguration and MutatingWebhookConfiguration name the
	// configurations that get the CA as caBundle; empty skips one.
	ValidatingWebhookConfiguration string
	MutatingWebhookConfiguration   string
	// Validity of a serving certificate, RenewBefore how long before its end a
	// new one replaces it, CheckInterval how often that is checked (a change
	// of the Secret is checked at once). The CA is replaced RenewBefore before
	// its ten years end.
	Validity, RenewBefore, CheckInterval time.Duration
}

// Validate says what is wrong with c, naming the flag to fix.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("--cert-dir is empty: the webhook server needs a directory for tls.crt and tls.key")
	}
	if c.Mode == External {
		return nil
	}
	if c.Mode != Self {
		return fmt.Errorf("unknown certificate mode %q: use external or self", c.Mode)
	}
	var errs []error
	for _, f := range []struct{ flag, value, hint string }{
		{"--cert-secret", c.Secret, ""},
		{"--cert-namespace", c.Namespace, " (it defaults to $POD_NAMESPACE, then the service account's namespace file; neither is there)"},
	} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("%s is empty: --cert-mode=self stores the certificates in a Secret and needs its name and namespace%s", f.flag, f.hint))
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(f.value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q is not a valid object name: %s", f.flag, f.value, strings.Join(msgs, "; ")))
		}
	}
	if c.Service == "" {
		errs = append(errs, errors.New("--webhook-service is empty: --cert-mode=self issues the serving certificate for the DNS name the API server calls, <service>.<namespace>.svc"))
	} else if msgs := validation.IsDNS1123Subdomain(c.Service); len(msgs) > 0 || !strings.Contains(c.Service, ".") {
		errs = append(errs, fmt.Errorf("--webhook-service %q is not a service DNS name: use <service>.<namespace>.svc, the name the API server calls", c.Service))
	}
	for _, n := range c.ExtraDNSNames {
		if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--cert-dns-names: %q is not a DNS name: %s", n, strings.Join(msgs, "; ")))
		}
	}
	if c.ValidatingWebhookConfiguration == "" && c.MutatingWebhookConfiguration == "" {
		errs = append(errs, errors.New("--validating-webhook-configuration and --mutating-webhook-configuration are both empty: --cert-mode=self must inject its CA into the configurations that call this server"))
	}
	if c.Validity < time.Hour {
		errs = append(errs, fmt.Errorf("--cert-validity %s is too short: use at least 1h (default %s)", c.Validity, DefaultValidity))
	}
	if c.RenewBefore <= 0 || c.RenewBefore >= c.Validity {
		errs = append(errs, fmt.Errorf("--cert-renew-before %s must be positive and shorter than --cert-validity %s, or every check would issue a new certificate", c.RenewBefore, c.Validity))
	}
	if c.CheckInterval <= 0 || c.CheckInterval > c.RenewBefore/2 {
		errs = append(errs, fmt.Errorf("--cert-check-interval %s must be positive and at most half of --cert-renew-before %s, so at least two checks fall into the renewal window", c.CheckInterval, c.RenewBefore))
	}
	if c.RenewBefore >= caValidity {
		errs = append(errs, fmt.Errorf("--cert-renew-before %s must be shorter than the CA's validity %s", c.RenewBefore, caValidity))
	}
	return errors.Join(errs...)
}

// serviceAccountNamespaceFile is where Kubernetes puts the pod's namespace
// next to its service account token.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// DefaultNamespace is the pod's own namespace: $POD_NAMESPACE (set from the
// downward API) or the service account's namespace file; "" when neither exists.
func DefaultNamespace() string {
	return namespaceFrom(os.Getenv, serviceAccountNamespaceFile)
}

func namespaceFrom(getenv func(string) string, file string) string {
	if ns := strings.TrimSpace(getenv("POD_NAMESPACE")); ns != "" {
		return ns
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}
