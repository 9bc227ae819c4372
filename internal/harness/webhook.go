package harness

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/meshguard/meshguard/internal/testcert"
)

const (
	// ReadyTimeout bounds the wait for readiness after the process starts.
	ReadyTimeout = 60 * time.Second
	// StopTimeout bounds the graceful shutdown after SIGTERM.
	StopTimeout = 15 * time.Second
)

// WebhookExists reports whether repo has the webhook's main package.
func WebhookExists(repo string) bool {
	info, err := os.Stat(filepath.Join(repo, "cmd", "webhook"))
	return err == nil && info.IsDir()
}

// BuildWebhook compiles cmd/webhook from the repository root into out, so
// the binary uses the root module's dependency versions rather than the
// caller's.
func BuildWebhook(ctx context.Context, repo, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/webhook")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/webhook: %w\n%s", err, b)
	}
	return nil
}

// WebhookOptions are the command-line and process choices for `webhook
// serve`.
type WebhookOptions struct {
	// Dir receives a fresh subdirectory with the certificate directory and
	// the process's log; the caller removes Dir.
	Dir string
	// Kubeconfig is the control plane the webhook reads namespaces from.
	Kubeconfig string
	// Mode is the global mode: "enforce" (the default) or "audit".
	Mode string
	// RuleModes overrides the mode per rule name: "enforce", "audit" or "off".
	RuleModes map[string]string
	// LogLevel is passed as --log-level when set.
	LogLevel string
	// ExtraArgs are appended to the command line, so they win over the
	// harness's flags, e.g. "--shutdown-delay=0s" so that Stop returns at
	// once.
	ExtraArgs []string
	// SelfManagedCert leaves --cert-dir empty for the webhook to fill
	// (--cert-mode=self, whose flags go in ExtraArgs) instead of writing a
	// testcert serving certificate into it. Readiness is then /readyz
	// alone, which in that mode waits for the certificate and the injected
	// CA; Webhook.CABundle stays nil.
	SelfManagedCert bool
	// Env is appended to the process's environment, e.g. the MEMORY_LIMIT
	// the chart passes from the container's memory limit.
	Env []string
	// OwnProcessGroup starts the process in a process group of its own, so
	// a terminal's Ctrl-C reaches only the caller, which then stops the
	// webhook in order.
	OwnProcessGroup bool
	// BeforeReady, if set, runs once the process has started and Port is
	// known, before the wait for readiness: e.g. to create the webhook
	// configurations that a self-managed certificate's CA is injected into,
	// which readiness waits for.
	BeforeReady func(w *Webhook) error
	// Logf, if set, receives the command line and how the process ended.
	Logf func(format string, args ...any)
}

// Webhook is a running `webhook serve` process.
type Webhook struct {
	// Port is the HTTPS port serving /validate and /mutate on 127.0.0.1.
	Port int
	// MetricsAddr and HealthAddr are the host:port of the plain-HTTP
	// endpoints.
	MetricsAddr, HealthAddr string
	// CABundle is the PEM CA that signed the serving certificate.
	CABundle []byte
	// LogPath is the file receiving the process's stdout and stderr.
	LogPath string
	// Args is the command line after the binary.
	Args []string

	cmd      *exec.Cmd
	done     chan struct{}
	exitErr  error // valid after done is closed
	logf     func(format string, args ...any)
	stopOnce sync.Once
	stopErr  error
}

// URL returns the HTTPS URL of path on the webhook, e.g. URL("/validate").
func (w *Webhook) URL(path string) string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(w.Port)) + path
}

// Pid is the webhook's process ID, for reading its /proc entries.
func (w *Webhook) Pid() int { return w.cmd.Process.Pid }

// StartWebhook runs bin (`webhook serve`) on free loopback ports with a fresh
// serving certificate and waits until /readyz answers 200 and the HTTPS port
// completes a TLS handshake with the certificate's CA (with
// opts.SelfManagedCert: /readyz alone). If the webhook is not ready, it is
// stopped and the error quotes the end of its log.
func StartWebhook(ctx context.Context, bin string, opts WebhookOptions) (*Webhook, error) {
	mode := cmp.Or(opts.Mode, "enforce")
	dir, err := os.MkdirTemp(opts.Dir, "webhook-"+mode+"-")
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return nil, err
	}
	var caPEM []byte
	if !opts.SelfManagedCert {
		p, err := testcert.Write(certDir, testcert.Options{})
		if err != nil {
			return nil, fmt.Errorf("serving certificate: %w", err)
		}
		caPEM = p.CA.PEM
	}
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	w := &Webhook{
		Port:        ports[0],
		MetricsAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		HealthAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
		CABundle:    caPEM,
		LogPath:     filepath.Join(dir, "webhook.log"),
		done:        make(chan struct{}),
		logf:        opts.Logf,
	}
	if w.logf == nil {
		w.logf = func(string, ...any) {}
	}
	w.Args = []string{"serve",
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(w.Port),
		"--cert-dir", certDir,
		"--metrics-bind-address", w.MetricsAddr,
		"--health-probe-bind-address", w.HealthAddr,
		"--kubeconfig", opts.Kubeconfig,
		"--mode", mode,
	}
	if opts.LogLevel != "" {
		w.Args = append(w.Args, "--log-level", opts.LogLevel)
	}
	// Sorted so that command lines, and so logs, compare across runs.
	for _, rule := range slices.Sorted(maps.Keys(opts.RuleModes)) {
		w.Args = append(w.Args, "--rule-mode", rule+"="+opts.RuleModes[rule])
	}
	w.Args = append(w.Args, opts.ExtraArgs...)

	logFile, err := os.Create(w.LogPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	w.cmd = exec.Command(bin, w.Args...)
	w.cmd.Env = append(os.Environ(), opts.Env...)
	w.cmd.Stdout, w.cmd.Stderr = logFile, logFile
	if opts.OwnProcessGroup {
		w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start webhook: %w", err)
	}
	go func() {
		w.exitErr = w.cmd.Wait()
		close(w.done)
	}()
	w.logf("webhook %v", w.Args)
	if opts.BeforeReady != nil {
		if err := opts.BeforeReady(w); err != nil {
			_ = w.Stop()
			return nil, err
		}
	}
	if err := w.waitReady(ctx); err != nil {
		_ = w.Stop()
		return nil, fmt.Errorf("webhook (%s mode) not ready: %w\nlast lines of %s:\n%s", mode, err, w.LogPath, Tail(w.LogPath, 15))
	}
	return w, nil
}

// Stop stops the process (SIGTERM, then a kill after StopTimeout) and waits
// for it to exit, so that the API server's calls fail as they would during
// an outage. It returns an error only if the process had to be killed. Later
// calls return the first call's result; a nil Webhook is stopped.
func (w *Webhook) Stop() error {
	if w == nil || w.cmd == nil {
		return nil
	}
	w.stopOnce.Do(func() {
		select {
		case <-w.done:
			w.logf("webhook had already exited: %v", w.exitErr)
			return
		default:
		}
		if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			w.logf("signal webhook: %v", err)
		}
		select {
		case <-w.done:
			if w.exitErr != nil {
				w.logf("webhook exited: %v", w.exitErr)
			}
		case <-time.After(StopTimeout):
			w.stopErr = fmt.Errorf("webhook ignored SIGTERM for %s; killed it", StopTimeout)
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	})
	return w.stopErr
}

// Exited is closed when the process has exited.
func (w *Webhook) Exited() <-chan struct{} { return w.done }

// waitReady polls until /readyz answers 200 and the webhook port completes a
// TLS handshake with w.CABundle (skipped without one: the webhook manages
// its own certificate), or the process exits, or ReadyTimeout passes.
func (w *Webhook) waitReady(ctx context.Context) error {
	var dialer *tls.Dialer
	if w.CABundle != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(w.CABundle)
		dialer = &tls.Dialer{
			NetDialer: &net.Dialer{Timeout: time.Second},
			Config:    &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		}
	}
	hc := &http.Client{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-w.done:
			return fmt.Errorf("process exited before ready: %v", w.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %v (last probe: %v)", ReadyTimeout, ctx.Err(), last)
		case <-tick.C:
		}
		if last = w.probe(ctx, hc, dialer); last == nil {
			return nil
		}
	}
}

// probe returns nil when the health endpoint says ready and, for a non-nil
// d, the TLS port completes a handshake.
func (w *Webhook) probe(ctx context.Context, c *http.Client, d *tls.Dialer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.HealthAddr+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	if d == nil {
		return nil
	}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(w.Port)))
	if err != nil {
		return fmt.Errorf("webhook port: %w", err)
	}
	return conn.Close()
}

// FreePorts asks the kernel for n distinct free loopback ports. They are
// released before use, so another process could take one in between; on a
// test machine that window is small enough.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
