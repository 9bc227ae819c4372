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
	"testing"
	"time"
)

const (
	// webhookPackage is the main package of the webhook binary.
	webhookPackage = rootModule + "/cmd/webhook"
	// readyTimeout bounds the wait for /readyz after the process starts.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds the graceful shutdown after SIGTERM.
	stopTimeout = 15 * time.Second
)

// WebhookOptions are the command-line choices a test makes for the webhook.
type WebhookOptions struct {
	// Kubeconfig is the control plane the webhook reads namespaces from.
	Kubeconfig string
	// Mode is the global mode: "enforce" (the default) or "audit".
	Mode string
	// RuleModes overrides the mode per rule name: "enforce", "audit" or "off".
	RuleModes map[string]string
	// ExtraArgs are appended to the command line, e.g. "--shutdown-delay=0s"
	// so that Stop returns at once.
	ExtraArgs []string
	// SelfManagedCert leaves --cert-dir empty for the webhook to fill
	// (--cert-mode=self, whose flags the test passes in ExtraArgs) instead
	// of writing the harness's serving certificate into it. Readiness is
	// then /readyz alone, which in that mode waits for the certificate and
	// the injected CA; Webhook.CABundle stays nil.
	SelfManagedCert bool
	// Env is appended to the process's environment, e.g. the MEMORY_LIMIT
	// the chart passes from the container's memory limit.
	Env []string
	// BeforeReady, if set, runs once the process has started and w.Port is
	// known, before the wait for readiness: e.g. to create the webhook
	// configurations that a self-managed certificate's CA is injected into,
	// which readiness waits for.
	BeforeReady func(w *Webhook)
}

// Webhook is a running webhook process.
type Webhook struct {
	// Port is the HTTPS port serving /validate and /mutate.
	Port int
	// MetricsAddr and HealthAddr are the host:port of the plain-HTTP
	// endpoints.
	MetricsAddr, HealthAddr string
	// CABundle is the PEM CA that signed the serving certificate.
	CABundle []byte
	// LogPath is the file receiving the process's stdout and stderr.
	LogPath string

	proc     *process
	stopOnce sync.Once
}

// URL returns the HTTPS URL of path on the webhook, e.g. URL("/validate").
func (w *Webhook) URL(path string) string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(w.Port)) + path
}

// WebhookExists reports whether the repository has the webhook's main
// package yet.
func WebhookExists(t testing.TB) bool {
	t.Helper()
	info, err := os.Stat(filepath.Join(RepoRoot(t), "cmd", "webhook"))
	return err == nil && info.IsDir()
}

// BuildWebhook compiles the webhook from the repository root, so the binary
// uses the root module's dependency versions rather than the test module's,
// and returns its path.
func BuildWebhook(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "webhook")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, webhookPackage)
	cmd.Dir = RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", webhookPackage, err, out)
	}
	return bin
}

// StartWebhook runs bin with a fresh serving certificate on free loopback
// ports, waits until /readyz answers 200 and the HTTPS port accepts TLS, and
// stops the process when the test ends. Its log is printed if the test fails.
// With opts.SelfManagedCert the certificate directory starts empty and
// readiness is /readyz alone.
func StartWebhook(t testing.TB, bin string, opts WebhookOptions) *Webhook {
	t.Helper()
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var caPEM []byte
	if !opts.SelfManagedCert {
		var err error
		if caPEM, err = WriteServingCert(certDir); err != nil {
			t.Fatalf("serving certificate: %v", err)
		}
	}
	ports := freePorts(t, 3)
	w := &Webhook{
		Port:        ports[0],
		MetricsAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		HealthAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
		CABundle:    caPEM,
		LogPath:     filepath.Join(dir, "webhook.log"),
	}

	logFile, err := os.Create(w.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"serve",
		"--cert-dir", certDir,
		"--port", strconv.Itoa(w.Port),
		"--metrics-bind-address", w.MetricsAddr,
		"--health-probe-bind-address", w.HealthAddr,
		"--kubeconfig", opts.Kubeconfig,
		"--mode", cmp.Or(opts.Mode, "enforce"),
		"--log-level", "debug",
	}
	// Sorted so that command lines, and so logs, compare across runs.
	for _, rule := range slices.Sorted(maps.Keys(opts.RuleModes)) {
		args = append(args, "--rule-mode", rule+"="+opts.RuleModes[rule])
	}
	args = append(args, opts.ExtraArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start webhook: %v", err)
	}
	proc := watch(cmd)
	w.proc = proc
	t.Cleanup(func() {
		w.Stop(t)
		logFile.Close()
		if t.Failed() {
			dumpLog(t, w.LogPath)
		}
	})
	t.Logf("webhook %v", args)
	if opts.BeforeReady != nil {
		opts.BeforeReady(w)
	}
	if err := waitReady(w, caPEM, proc); err != nil {
		t.Fatalf("webhook not ready: %v (log: %s)", err, w.LogPath)
	}
	return w
}

// Stop stops the webhook process (SIGTERM, then a kill after stopTimeout)
// and waits for it to exit, so that the API server's calls fail as they
// would during an outage. Later calls, and the test's cleanup, do nothing.
func (w *Webhook) Stop(t testing.TB) {
	t.Helper()
	w.stopOnce.Do(func() { stopProcess(t, w.proc) })
}

// waitReady polls until /readyz answers 200 and the webhook port completes a
// TLS handshake with the test CA (skipped when caPEM is nil: the webhook
// manages its own certificate), or the process exits, or readyTimeout.
func waitReady(w *Webhook, caPEM []byte, proc *process) error {
	var dialer *tls.Dialer
	if caPEM != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		dialer = &tls.Dialer{
			NetDialer: &net.Dialer{Timeout: time.Second},
			Config:    &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		}
	}
	httpClient := &http.Client{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-proc.done:
			return fmt.Errorf("process exited before ready: %v", proc.err)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %v", readyTimeout, last)
		case <-tick.C:
		}
		last = probe(ctx, httpClient, dialer, w)
		if last == nil {
			return nil
		}
	}
}

// probe returns nil when both the health endpoint and the TLS port are up;
// a nil d skips the TLS port.
func probe(ctx context.Context, c *http.Client, d *tls.Dialer, w *Webhook) error {
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

// process is a started command whose exit is observed once, by a single
// goroutine, so that both the readiness wait and the shutdown can see it.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done is closed
}

// watch waits for cmd in the background.
func watch(cmd *exec.Cmd) *process {
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// stopProcess sends SIGTERM, waits up to stopTimeout for a graceful exit,
// then kills the process.
func stopProcess(t testing.TB, p *process) {
	t.Helper()
	select {
	case <-p.done:
		t.Logf("webhook had already exited: %v", p.err)
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Logf("signal webhook: %v", err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Logf("webhook exited: %v", p.err)
		}
	case <-time.After(stopTimeout):
		t.Errorf("webhook ignored SIGTERM for %s; killing it", stopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// dumpLog copies the process log into the test output.
func dumpLog(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("read webhook log: %v", err)
		return
	}
	t.Logf("webhook log (%s):\n%s", path, data)
}

// freePorts asks the kernel for n distinct free loopback ports. They are
// released before use, so another process could take one in between; on a
// test machine that window is small enough.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
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
			t.Fatalf("free port: %v", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
