// Package server wires meshguard's rules into a controller-runtime manager:
// the webhook server (TLS, hot-reloaded certificates), the informer cache,
// health probes, metrics and a graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/meshguard/meshguard/pkg/access"
	"github.com/meshguard/meshguard/pkg/admit"
	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/events"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// Paths the API server calls.
const (
	ValidatePath = "/validate"
	MutatePath   = "/mutate"
)

// RuleSet builds the validating and mutating rules on top of the cluster
// reader: the same type the offline reviewer (check, the audit) takes, so
// cmd/webhook hands one rule list to all of them.
type RuleSet = admit.RuleSet

// AddOn is one part of the process beside the webhook server that runs on
// the manager: it adds its runnables, checks and metrics in Setup.
type AddOn struct {
	// Name says what it is in errors, e.g. "self-managed certificates".
	Name  string
	Setup func(Host) error
}

// Host is what an add-on is set up on: the manager, and the Events
// recorder (nil unless Options.Events).
type Host struct {
	manager.Manager
	Events *events.Recorder
}

// Options configure Run; cmd/webhook fills them from flags.
type Options struct {
	Config      *rest.Config
	CertDir     string
	Host        string
	Port        int
	MetricsAddr string
	// MetricsSecure serves /metrics and the add-ons' extra endpoints (the
	// audit's /report) over HTTPS, only to callers the API server
	// authenticates (TokenReview) and authorises for a get on the path
	// (SubjectAccessReview), as kubebuilder's scaffold does.
	MetricsSecure bool
	ProbeAddr     string
	// PprofAddr serves Go's /debug/pprof endpoints when set (off by default).
	PprofAddr       string
	Modes           policy.Modes
	AllowExemptions bool
	// ExemptionAuthz honours an exemption only when the requesting user may
	// exempt objects from the rule in the namespace (a SubjectAccessReview
	// of verb exempt on rules.meshguard.dev, cached briefly).
	ExemptionAuthz bool
	// Events records what audit mode lets through (would deny, would
	// change) as Kubernetes Events on the objects (package events).
	Events bool
	// Budget bounds the work on one review (keep it under the webhook's timeoutSeconds).
	Budget time.Duration
	// MaxInFlightBytes caps the bytes held by reviews in flight, server-wide
	// (review.Limiter); reviews past it get a 503. Zero: no cap.
	MaxInFlightBytes int64
	// ShutdownDelay is how long readiness reports false before the server stops
	// accepting connections, so endpoints stop routing to this replica first.
	ShutdownDelay time.Duration
	Rules         RuleSet
	Log           logr.Logger
	// TLSOpts tune the webhook server's TLS; one that sets GetCertificate
	// replaces controller-runtime's own watcher of CertDir (package certs).
	TLSOpts []func(*tls.Config)
	// EnableHTTP2 lets clients negotiate HTTP/2. Off by default, as in
	// kubebuilder's scaffold: HTTP/2 servers have had stream-reset denial of
	// service flaws (CVE-2023-44487, CVE-2023-39325), and an HTTP/1.1
	// keep-alive connection costs less per review.
	EnableHTTP2 bool
	// AddOns are added to the manager, in order, before it starts: the
	// serving certificates (package certs: watcher, rotation, expiry metric,
	// readiness checks) and the background audit (package audit).
	AddOns []AddOn
	// LeaderElection elects one replica, through the Lease LeaderElectionID
	// in LeaderElectionNamespace, to run the runnables that ask for it (the
	// background audit); every replica serves reviews either way.
	LeaderElection          bool
	LeaderElectionID        string
	LeaderElectionNamespace string
}

func (o Options) tlsOpts() []func(*tls.Config) {
	if o.EnableHTTP2 {
		return o.TLSOpts
	}
	return append([]func(*tls.Config){HTTP1Only}, o.TLSOpts...)
}

// metricsOptions serves metrics in plain HTTP, or, with MetricsSecure,
// over HTTPS (a self-signed certificate controller-runtime generates) to
// authenticated and authorised callers only.
func metricsOptions(o Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsAddr}
	if o.MetricsSecure {
		m.SecureServing = true
		m.FilterProvider = authorisedMetrics
		m.TLSOpts = []func(*tls.Config){HTTP1Only}
	}
	return m
}

// HTTP1Only offers only HTTP/1.1 in ALPN, so clients never negotiate HTTP/2.
func HTTP1Only(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }

// Run serves until ctx is cancelled, then drains: readiness turns false, the
// shutdown delay passes, and in-flight reviews finish with real decisions.
func Run(ctx context.Context, o Options) error {
	mgr, err := ctrl.NewManager(o.Config, ctrl.Options{
		Logger:                  o.Log,
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.ProbeAddr,
		PprofBindAddress:        o.PprofAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        o.LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// The process exits when the manager stops, so the lease can be
		// handed over at once instead of after it expires.
		LeaderElectionReleaseOnCancel: true,
		WebhookServer: NewWebhookServer(WebhookOptions{
			Host: o.Host, Port: o.Port, CertDir: o.CertDir, TLSOpts: o.tlsOpts(),
			WriteTimeout: writeTimeout(o.Budget), Log: o.Log.WithName("webhook"),
		}),
		Cache: cache.Options{
			DefaultTransform:            trimMetadata,
			ReaderFailOnMissingInformer: true,
		},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	host := Host{Manager: mgr}
	if o.Events {
		if host.Events, err = events.New(mgr.GetEventRecorder("meshguard"), metrics.Registry); err != nil {
			return err
		}
		if err := mgr.Add(host.Events); err != nil {
			return err
		}
	}
	for _, a := range o.AddOns {
		if err := a.Setup(host); err != nil {
			return fmt.Errorf("setting up %s: %w", a.Name, err)
		}
	}
	m, err := policy.NewMetrics(metrics.Registry)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	rm, err := review.NewMetrics(metrics.Registry)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	// One cap for both paths: it bounds the process's memory, not a path's.
	limiter := review.NewLimiter(o.MaxInFlightBytes)
	reader := cluster.Reader{Cache: mgr.GetCache(), API: mgr.GetAPIReader()}
	if err := watch(ctx, mgr.GetCache(), mgr.GetRESTMapper()); err != nil {
		return err
	}
	rules := o.Rules(reader)
	var authz policy.ExemptionAuthorizer
	if o.ExemptionAuthz {
		cs, err := kubernetes.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
		if err != nil {
			return fmt.Errorf("exemption authorisation client: %w", err)
		}
		authz = exemptionAuthz{access.NewReviewer(cs)}
	}
	life := &lifecycle{delay: o.ShutdownDelay, log: o.Log}
	srv := mgr.GetWebhookServer()
	for path, rules := range map[string]policy.Rules{ValidatePath: {Validating: rules.Validating}, MutatePath: {Mutating: rules.Mutating}} {
		engine := policy.NewEngine(policy.Config{Rules: rules, Modes: o.Modes, AllowExemptions: o.AllowExemptions, ExemptionAuthz: authz, Events: eventSink(host.Events), Metrics: m, Log: o.Log.WithName(path[1:])})
		srv.Register(path, life.closeWhenDraining(&review.Handler{Reviewer: engine, Budget: o.Budget, Limiter: limiter, Metrics: rm, Log: o.Log.WithName(path[1:])}))
	}

	synced := &syncGate{done: make(chan struct{})}
	checks := map[string]healthz.Checker{"webhook": srv.StartedChecker(), "cache": synced.check, "shutdown": life.readyz}
	for name, check := range checks {
		if err := mgr.AddReadyzCheck(name, check); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	mgrCtx := life.run(ctx)
	go synced.wait(mgrCtx, mgr.GetCache())
	return mgr.Start(mgrCtx)
}

// writeTimeout is the webhook server's WriteTimeout for a review budget: the
// budget (the body and the rules) plus ample time to send a large patch, so
// only a caller that stops reading its answer ever meets it.
func writeTimeout(budget time.Duration) time.Duration {
	if budget <= 0 {
		budget = review.DefaultBudget
	}
	return budget + 10*time.Second
}

// watch registers the informers rules read before the cache starts, so no
// review ever waits for an informer to be created and listed.
func watch(ctx context.Context, c cache.Cache, m meta.RESTMapper) error {
	objs := cluster.Cached()
	// Istio's PeerAuthentications are watched when the cluster serves them;
	// otherwise the rules read them from the API server, and find none.
	if _, err := m.RESTMapping(cluster.PeerAuthenticationGVK.GroupKind(), cluster.PeerAuthenticationGVK.Version); err == nil {
		objs = append(objs, cluster.PeerAuthentication())
	} else if !meta.IsNoMatchError(err) {
		return fmt.Errorf("looking up PeerAuthentication: %w", err)
	}
	for _, obj := range objs {
		if _, err := c.GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("watching %T: %w", obj, err)
		}
	}
	return nil
}

// lastApplied is kubectl's copy of the whole applied object: no rule reads
// it from the cache, and on a ConfigMap cached as metadata it would cost as
// much memory as the data the metadata-only watch avoids holding.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// trimMetadata drops what no reader of the cache needs before an object is
// stored: managedFields and kubectl's last-applied copy.
func trimMetadata(obj any) (any, error) {
	obj, err := cache.TransformStripManagedFields()(obj)
	if m, ok := obj.(metav1.Object); ok && err == nil {
		if a := m.GetAnnotations(); a != nil {
			if _, ok := a[lastApplied]; ok {
				delete(a, lastApplied)
				m.SetAnnotations(a)
			}
		}
	}
	return obj, err
}

// syncGate keeps readiness false until the cache has synced, so a new replica
// does not answer reviews from an empty cache.
type syncGate struct{ done chan struct{} }

func (s *syncGate) wait(ctx context.Context, c cache.Cache) {
	if c.WaitForCacheSync(ctx) {
		close(s.done)
	}
}

func (s *syncGate) check(_ *http.Request) error {
	select {
	case <-s.done:
		return nil
	default:
		return errors.New("informer cache not synced yet")
	}
}
