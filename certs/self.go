package certs

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Names written into the generated certificates and onto the updated objects.
const (
	caName     = "meshguard-ca"
	caOrg      = "meshguard"
	fieldOwner = "meshguard-cert-rotator"
)

// preflightTimeout bounds the start-up check that the Secret exists.
const preflightTimeout = 10 * time.Second

// addSelf wires cert-controller's rotator into mgr and returns a readiness
// check that passes once the serving certificate is in c.Dir and the CA is
// in the webhook configurations.
//
// Every replica runs the rotator (no leader election): the first to write
// the Secret wins through the API server's optimistic concurrency, the others
// read its certificates, and all of them inject the same CA. A new serving
// certificate keeps the CA, so its rotation is invisible to the API server.
func addSelf(mgr manager.Manager, c Config, log logr.Logger) (healthz.Checker, error) {
	if err := secretExists(mgr, c); err != nil {
		return nil, err
	}
	scoped := scopedConfig(mgr.GetConfig(), collectionPaths(c))
	ready := make(chan struct{})
	var hooks []rotator.WebhookInfo
	if c.ValidatingWebhookConfiguration != "" {
		hooks = append(hooks, rotator.WebhookInfo{Name: c.ValidatingWebhookConfiguration, Type: rotator.Validating})
	}
	if c.MutatingWebhookConfiguration != "" {
		hooks = append(hooks, rotator.WebhookInfo{Name: c.MutatingWebhookConfiguration, Type: rotator.Mutating})
	}
	err := rotator.AddRotator(scopedManager{Manager: mgr, cfg: scoped}, &rotator.CertRotator{
		SecretKey:              types.NamespacedName{Namespace: c.Namespace, Name: c.Secret},
		CertDir:                c.Dir,
		CertName:               CertFile,
		KeyName:                KeyFile,
		CAName:                 caName,
		CAOrganization:         caOrg,
		DNSName:                c.Service,
		ExtraDNSNames:          c.ExtraDNSNames,
		IsReady:                ready,
		Webhooks:               hooks,
		FieldOwner:             fieldOwner,
		RequireLeaderElection:  false,
		CaCertDuration:         caValidity,
		ServerCertDuration:     c.Validity,
		LookaheadInterval:      c.RenewBefore,
		RotationCheckFrequency: c.CheckInterval,
		// Inject the CA only once this replica can serve a certificate it signed.
		EnableReadinessCheck: true,
	})
	if err != nil {
		return nil, fmt.Errorf("adding the certificate rotator: %w", err)
	}
	if err := addSecretFiles(mgr, scoped, c, log); err != nil {
		return nil, err
	}
	return func(_ *http.Request) error {
		select {
		case <-ready:
			return nil
		default:
			return fmt.Errorf("certificate rotator not ready: waiting for the serving certificate from secret %s/%s and the CA in the webhook configurations", c.Namespace, c.Secret)
		}
	}, nil
}

// secretExists fails early with a message that says what to do, instead of
// the rotator's retries ending in a bare not-found error. The Secret must
// exist because creating it would need the create verb, which RBAC cannot
// restrict to one name.
func secretExists(mgr manager.Manager, c Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), preflightTimeout)
	defer cancel()
	err := mgr.GetAPIReader().Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Secret}, &corev1.Secret{})
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("secret %s/%s not found: --cert-mode=self keeps the CA and serving certificate in it and does not create it (the Helm chart does); create it empty with `kubectl -n %s create secret generic %s`, or fix --cert-secret/--cert-namespace", c.Namespace, c.Secret, c.Namespace, c.Secret)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("reading secret %s/%s is forbidden: --cert-mode=self needs get, list, watch and update on it (the Helm chart's Role grants them): %w", c.Namespace, c.Secret, err)
	}
	return fmt.Errorf("reading secret %s/%s: %w", c.Namespace, c.Secret, err)
}

// scopedManager hands cert-controller a rest.Config whose list and watch
// requests are narrowed to the objects it manages (see scopedConfig); all
// else, including the client it writes with, is the real manager's.
type scopedManager struct {
	manager.Manager
	cfg *rest.Config
}

func (m scopedManager) GetConfig() *rest.Config { return m.cfg }
