package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshguard/meshguard/pkg/cluster"
	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policies"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/server"
)

// serveFlags are the flags of `webhook serve`; other tooling (the chart, the
// e2e harness, the demo) relies on their names.
type serveFlags struct {
	certDir, host, metricsAddr, probeAddr, pprofAddr, kubeconfig, logLevel string
	port                                                                   int
	mode                                                                   string
	ruleModes                                                              ruleModeFlag
	allowExemptions, meshByDefault, enableHTTP2, metricsSecure             bool
	exemptionAuthz                                                         bool
	events                                                                 bool
	systemNamespaces                                                       string
	istio                                                                  *istioFlags
	budget, shutdownDelay                                                  time.Duration
	maxInFlightBytes                                                       int64
	certs                                                                  *certFlags
	audit                                                                  *auditFlags
	compiled                                                               *compiledFlags
}

func newServeFlags(out io.Writer) (*flag.FlagSet, *serveFlags) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("webhook serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&f.certDir, "cert-dir", filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs"), "directory holding tls.crt and tls.key; reloaded when they change")
	fs.StringVar(&f.host, "host", "", "address the webhook server binds to (empty: all)")
	fs.IntVar(&f.port, "port", 9443, "HTTPS port of the webhook server (POST /validate, POST /mutate)")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint (\"0\" disables it)")
	fs.BoolVar(&f.metricsSecure, "metrics-secure", false, "serve /metrics and /report over HTTPS, only to callers the API server authenticates and authorises for a get on the path (TokenReview, SubjectAccessReview); the chart turns it on")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	fs.BoolVar(&f.enableHTTP2, "enable-http2", false, "let clients negotiate HTTP/2 with the webhook server (off: HTTP/1.1 only, which avoids HTTP/2's stream-reset denial-of-service flaws and costs less per review)")
	fs.StringVar(&f.pprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof endpoints for profiling (empty: off; bind it to 127.0.0.1)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then the in-cluster config)")
	fs.StringVar(&f.mode, "mode", string(policy.Enforce), "global mode: enforce (deny and patch) or audit (warn only, never deny or patch)")
	fs.Var(&f.ruleModes, "rule-mode", "per-rule mode RULE=enforce|audit|off, repeatable; rules: "+strings.Join(ruleIDs(), ", "))
	fs.BoolVar(&f.allowExemptions, "allow-exemptions", true, "honour meshguard.dev/exempt annotations that carry a meshguard.dev/exempt-reason")
	fs.BoolVar(&f.events, "events", false, "record Kubernetes Events (events.k8s.io/v1, type Warning) on objects: MeshguardWouldDeny and MeshguardWouldChange when audit mode lets a write through, MeshguardViolation when the background audit first finds one; asynchronous, deduplicated for 10 minutes, at most 5/s (burst 50), drops counted in meshguard_events_total; the chart turns it on")
	fs.BoolVar(&f.exemptionAuthz, "exemption-authz", false, "honour an exemption only when the user who adds it may: verb exempt on rules.meshguard.dev, name the rule, in the object's namespace (SubjectAccessReview, cached briefly; an update keeping an admitted exemption needs no permission); the chart turns it on")
	fs.BoolVar(&f.meshByDefault, "mesh-by-default", false, "treat unlabelled namespaces as meshed (Istio installed with enableNamespacesByDefault)")
	fs.StringVar(&f.systemNamespaces, "system-namespaces", "", "comma-separated namespaces never meshed by --mesh-by-default (kube-system, kube-public and kube-node-lease always are)")
	fs.DurationVar(&f.budget, "review-timeout", 2*time.Second, "time budget of one review; keep it below the webhook configuration's timeoutSeconds")
	fs.Var(byteSize{&f.maxInFlightBytes}, "max-in-flight-bytes", "cap on the bytes held by reviews in flight (bytes or a quantity such as 32Mi), each charged its body size for its whole review; past it reviews get HTTP 503 and failurePolicy decides (0: 1/64 of $MEMORY_LIMIT, the container's memory limit, else 32Mi)")
	fs.DurationVar(&f.shutdownDelay, "shutdown-delay", 5*time.Second, "on SIGTERM, how long readiness reports false before the server stops accepting connections")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, error, or a verbosity number (2 = more than debug)")
	f.istio = addIstioFlags(fs)
	f.certs = addCertFlags(fs)
	f.audit = addAuditFlags(fs)
	f.compiled = addCompiledFlags(fs)
	return fs, f
}

func serve(prog string, args []string, stderr io.Writer) int {
	fs, f := newServeFlags(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, as(prog, "usage: webhook serve [flags]\n\nRuns the admission server (POST /validate, POST /mutate), the background audit and the metrics.\n\nFlags:"))
		printFlags(stderr, fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	mem, err := planMemory(os.Getenv, f.maxInFlightBytes)
	if err != nil {
		fmt.Fprintf(stderr, "webhook serve: %v\n", err)
		return 2
	}
	opts, err := f.options()
	if err != nil {
		fmt.Fprintf(stderr, "webhook serve: %v\n", err)
		return 2
	}
	ctrl.SetLogger(opts.Log)
	mem.apply(opts.Log)
	opts.MaxInFlightBytes = mem.inFlight
	if err := server.Run(ctrl.SetupSignalHandler(), opts); err != nil {
		opts.Log.Error(err, "webhook server stopped")
		return 1
	}
	return 0
}

func (f *serveFlags) options() (server.Options, error) {
	mode, err := policy.ParseMode(f.mode)
	if err != nil || mode == policy.Off {
		return server.Options{}, fmt.Errorf("--mode %q: use enforce or audit (turn single rules off with --rule-mode RULE=off)", f.mode)
	}
	level, err := parseLevel(f.logLevel)
	if err != nil {
		return server.Options{}, err
	}
	istio, err := f.istio.ingress()
	if err != nil {
		return server.Options{}, err
	}
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return server.Options{}, err
	}
	m := mesh.Options{ByDefault: f.meshByDefault, SystemNamespaces: splitList(f.systemNamespaces)}
	o, err := f.certs.wire(server.Options{
		Config: cfg, CertDir: f.certDir, Host: f.host, Port: f.port,
		MetricsAddr: f.metricsAddr, MetricsSecure: f.metricsSecure, ProbeAddr: f.probeAddr, PprofAddr: f.pprofAddr, EnableHTTP2: f.enableHTTP2,
		Modes:           policy.Modes{Default: mode, PerRule: f.ruleModes.modes},
		AllowExemptions: f.allowExemptions,
		ExemptionAuthz:  f.exemptionAuthz,
		Events:          f.events,
		Budget:          f.budget, ShutdownDelay: f.shutdownDelay,
		Rules: func(c cluster.Reader) policy.Rules {
			return rules(c, settings{mesh: m, istio: istio, rootNamespace: f.istio.root, allowExemptions: f.allowExemptions})
		},
		Log: crzap.New(crzap.JSONEncoder(), crzap.Level(level)),
	})
	if err != nil {
		return o, err
	}
	if o, err = f.audit.wire(o, m); err != nil {
		return o, err
	}
	return f.compiled.wire(o, policies.Options{
		Namespace: o.LeaderElectionNamespace, Modes: o.Modes, Excluded: splitList(f.audit.excluded),
		AllowExemptions: f.allowExemptions, ExemptionAuthz: f.exemptionAuthz, Mesh: m, Istio: istio,
	})
}

// restConfig finds the cluster. Responses are not gzipped: the webhook's
// watches carry a stream of small events that the API server would compress
// and the webhook decompress, one of the largest CPU costs of both for it,
// for little bandwidth inside a cluster. Without a rate limit in the
// kubeconfig, client-side rate limiting is off, as controller-runtime sets it
// for the in-cluster config: the API server's priority and fairness governs,
// and both ways of running behave alike.
func restConfig(kubeconfig string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		if cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
	} else if cfg, err = crconfig.GetConfig(); err != nil {
		return nil, fmt.Errorf("no cluster to talk to: set --kubeconfig or $KUBECONFIG, or run in a pod: %w", err)
	}
	cfg.DisableCompression = true
	if cfg.QPS == 0 {
		cfg.QPS = -1
	}
	return cfg, nil
}

func parseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	var v int
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || v < 0 {
		return 0, fmt.Errorf("--log-level %q: use debug, info, error or a verbosity number", s)
	}
	return zapcore.Level(-v), nil
}

// ruleModeFlag collects repeated --rule-mode RULE=MODE values.
type ruleModeFlag struct{ modes map[string]policy.Mode }

func (r *ruleModeFlag) String() string {
	var parts []string
	for id, m := range r.modes {
		parts = append(parts, id+"="+string(m))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (r *ruleModeFlag) Set(v string) error {
	id, m, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("%q is not RULE=MODE", v)
	}
	if !slices.Contains(ruleIDs(), id) {
		return fmt.Errorf("unknown rule %q: rules are %s", id, strings.Join(ruleIDs(), ", "))
	}
	mode, err := policy.ParseMode(m)
	if err != nil {
		return err
	}
	if r.modes == nil {
		r.modes = map[string]policy.Mode{}
	}
	r.modes[id] = mode
	return nil
}
