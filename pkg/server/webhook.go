package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Limits of the webhook's HTTP server on what a client may make it hold
// before a handler runs; the handlers bound the rest (package review).
const (
	// readHeaderTimeout: the API server sends its headers at once.
	readHeaderTimeout = 10 * time.Second
	// maxHeaderBytes: a review's headers are a few hundred bytes.
	maxHeaderBytes = 64 << 10
	// idleTimeout matches the keep-alive of Go's default transport, which
	// the API server's webhook client uses.
	idleTimeout = 90 * time.Second
	// shutdownTimeout bounds the drain; reviews in flight end by their
	// budget long before.
	shutdownTimeout = time.Minute
)

// WebhookOptions configure a WebhookServer.
type WebhookOptions struct {
	// Host and Port are where to listen; an empty Host listens on all addresses.
	Host string
	Port int
	// CertDir holds tls.crt and tls.key, reloaded when they change, unless a
	// TLSOpt sets GetCertificate.
	CertDir string
	// TLSOpts tune the TLS configuration; none can lower the floor that
	// SecureTLS sets.
	TLSOpts []func(*tls.Config)
	// WriteTimeout bounds, from the end of a request's headers, the time to
	// answer it: a caller that stops reading its answer cannot hold a handler
	// (and the bytes the handler charged) for longer. Zero: none.
	WriteTimeout time.Duration
	Log          logr.Logger
}

// WebhookServer is the HTTPS server the API server calls. It keeps
// controller-runtime's webhook.Server for registration, so controller-runtime's
// webhook metrics still count every review, but serves the registered paths
// from an http.Server of its own: controller-runtime's cancels every request's
// context when the manager stops, while it still drains in-flight requests,
// so a handler could not tell the caller hanging up (stop the work) from a
// shutdown (finish the work with a real decision).
type WebhookServer struct {
	webhook.Server
	o   WebhookOptions
	mux *http.ServeMux

	mu      sync.Mutex
	paths   map[string]bool
	started bool
}

// NewWebhookServer returns a server for o; register paths, then Start it
// (the manager does, as for any webhook.Server).
func NewWebhookServer(o WebhookOptions) *WebhookServer {
	mux := http.NewServeMux()
	return &WebhookServer{
		Server: webhook.NewServer(webhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir, WebhookMux: mux}),
		o:      o, mux: mux, paths: map[string]bool{},
	}
}

// Register serves hook at exactly path, instrumented by controller-runtime.
func (s *WebhookServer) Register(path string, hook http.Handler) {
	s.mu.Lock()
	s.paths[path] = true
	s.mu.Unlock()
	s.Server.Register(path, hook)
}

// Start serves until ctx is cancelled, then stops accepting connections and
// waits for requests in flight. Request contexts do not derive from ctx: they
// end when the caller hangs up, never because the server stops.
func (s *WebhookServer) Start(ctx context.Context) error {
	cfg, err := s.tlsConfig(ctx)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(s.o.Host, strconv.Itoa(s.o.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	g := newGuard(s.mux, slices.Collect(maps.Keys(s.paths)))
	s.mu.Unlock()
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       idleTimeout,
		WriteTimeout:      s.o.WriteTimeout,
		// OPTIONS * would otherwise be answered before the guard sees it.
		DisableGeneralOptionsHandler: true,
		// Failed handshakes are what scanners and probes leave; they go to
		// the JSON log at debug level rather than as plain text to stderr.
		ErrorLog: log.New(logWriter{s.o.Log.V(1)}, "", 0),
		// No BaseContext: request contexts derive from context.Background,
		// and Shutdown waits for the handlers instead of cancelling them.
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		s.o.Log.Info("shutting down the webhook server: no new connections, waiting for reviews in flight")
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.o.Log.Error(err, "webhook server did not drain in time; closing its connections")
			_ = srv.Close()
		}
	}()
	s.o.Log.Info("serving webhooks", "address", addr)
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	if err := srv.Serve(tls.NewListener(ln, cfg)); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-drained
	return nil
}

// tlsConfig is controller-runtime's: HTTP/2 offered unless an option says
// otherwise, the certificate watched in CertDir unless an option supplies
// GetCertificate; on top, SecureTLS.
func (s *WebhookServer) tlsConfig(ctx context.Context) (*tls.Config, error) {
	cfg := &tls.Config{NextProtos: []string{"h2"}}
	for _, op := range s.o.TLSOpts {
		op(cfg)
	}
	SecureTLS(cfg)
	if cfg.GetCertificate == nil {
		w, err := certwatcher.New(filepath.Join(s.o.CertDir, "tls.crt"), filepath.Join(s.o.CertDir, "tls.key"))
		if err != nil {
			return nil, err
		}
		cfg.GetCertificate = w.GetCertificate
		go func() {
			if err := w.Start(ctx); err != nil {
				s.o.Log.Error(err, "certificate watcher stopped")
			}
		}()
	}
	return cfg, nil
}

// logWriter writes net/http's server errors to a logr.Logger.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// StartedChecker reports ready once the server accepts TLS connections.
func (s *WebhookServer) StartedChecker() healthz.Checker {
	// The check proves the listener is up, not who it is: it trusts any certificate.
	cfg := &tls.Config{InsecureSkipVerify: true}
	return func(*http.Request) error {
		s.mu.Lock()
		started := s.started
		s.mu.Unlock()
		if !started {
			return errors.New("webhook server has not been started yet")
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(s.o.Host, strconv.Itoa(s.o.Port)), cfg)
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}
