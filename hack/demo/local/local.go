// Package local runs meshguard's webhook as a local process beside a
// control plane, with the Helm chart's own webhook configurations pointed at
// it: the pieces `make demo` and bench/cmd/apiload share (the e2e harness
// takes a testing.TB, so programs cannot use it).
package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// ChartDir is the Helm chart, relative to the repository root.
const ChartDir = "deploy/charts/meshguard"

// BuildWebhook compiles cmd/webhook from the repository root, so the binary
// uses the root module's dependency versions.
func BuildWebhook(ctx context.Context, repo, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/webhook")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/webhook: %w\n%s", err, b)
	}
	return nil
}

// Webhook is a running `webhook serve` process.
type Webhook struct {
	mode       string
	port       int
	healthAddr string
	// MetricsAddr is the host:port of the process's /metrics endpoint.
	MetricsAddr string
	caPEM       []byte
	LogPath     string
	cmd         *exec.Cmd
	done        chan struct{}
	err         error // valid after done is closed
}

// Pid is the process ID of the webhook, for reading its /proc entries.
func (w *Webhook) Pid() int { return w.cmd.Process.Pid }

// URL is the HTTPS URL of path on the webhook.
func (w *Webhook) URL(path string) string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(w.port)) + path
}

// StartWebhook runs bin in mode with a fresh serving certificate on free
// loopback ports and waits until it is ready. Its output goes to a log file
// in dir; extra flags are appended to `webhook serve`'s.
func StartWebhook(ctx context.Context, bin, dir, kubeconfig, mode string, extra ...string) (*Webhook, error) {
	certDir := filepath.Join(dir, "certs-"+mode)
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	caPEM, err := WriteServingCert(certDir)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	w := &Webhook{
		mode:        mode,
		port:        ports[0],
		healthAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
		MetricsAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		caPEM:       caPEM,
		LogPath:     filepath.Join(dir, "webhook-"+mode+".log"),
		done:        make(chan struct{}),
	}
	logFile, err := os.Create(w.LogPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	w.cmd = exec.Command(bin, append([]string{"serve",
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(w.port),
		"--cert-dir", certDir,
		"--metrics-bind-address", w.MetricsAddr,
		"--health-probe-bind-address", w.healthAddr,
		"--kubeconfig", kubeconfig,
		"--mode", mode,
		"--shutdown-delay", "0s",
	}, extra...)...)
	w.cmd.Stdout, w.cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C reaches only the demo, which stops the
	// webhook in order.
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start webhook: %w", err)
	}
	go func() {
		w.err = w.cmd.Wait()
		close(w.done)
	}()
	if err := w.waitReady(ctx); err != nil {
		w.Stop()
		return nil, fmt.Errorf("webhook (%s mode) not ready: %w\nlast lines of %s:\n%s", mode, err, w.LogPath, Tail(w.LogPath, 15))
	}
	return w, nil
}

// waitReady polls /readyz and a TLS handshake on the webhook port.
func (w *Webhook) waitReady(ctx context.Context) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.caPEM)
	dialer := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: time.Second},
		Config:    &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
	}
	hc := &http.Client{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-w.done:
			return fmt.Errorf("exited: %v", w.err)
		case <-ctx.Done():
			return fmt.Errorf("%v (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
		last = func() error {
			resp, err := hc.Get("http://" + w.healthAddr + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("/readyz: %s", resp.Status)
			}
			conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(w.port)))
			if err != nil {
				return err
			}
			return conn.Close()
		}()
		if last == nil {
			return nil
		}
	}
}

// Stop sends SIGTERM, waits up to 15 s, then kills.
func (w *Webhook) Stop() {
	if w == nil || w.cmd == nil || w.cmd.Process == nil {
		return
	}
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(15 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// RenderWebhookConfigs renders the chart's two webhook configurations for
// mode with `helm template` and points every entry at w instead of the
// in-cluster Service.
func RenderWebhookConfigs(ctx context.Context, helm, repo, mode string, w *Webhook) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration, error) {
	cmd := exec.CommandContext(ctx, helm, "template", "meshguard", filepath.Join(repo, ChartDir),
		"--namespace", "meshguard", "--set", "mode="+mode,
		"--show-only", "templates/validatingwebhookconfiguration.yaml",
		"--show-only", "templates/mutatingwebhookconfiguration.yaml")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("helm template: %w: %s", err, stderr.String())
	}
	var (
		v *admissionregistrationv1.ValidatingWebhookConfiguration
		m *admissionregistrationv1.MutatingWebhookConfiguration
	)
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("helm template output: %w", err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, nil, err
		}
		switch meta.Kind {
		case "ValidatingWebhookConfiguration":
			v = &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(doc, v); err != nil {
				return nil, nil, err
			}
			for i := range v.Webhooks {
				v.Webhooks[i].ClientConfig = pointAt(v.Webhooks[i].ClientConfig, w)
			}
		case "MutatingWebhookConfiguration":
			m = &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(doc, m); err != nil {
				return nil, nil, err
			}
			for i := range m.Webhooks {
				m.Webhooks[i].ClientConfig = pointAt(m.Webhooks[i].ClientConfig, w)
			}
		}
	}
	if v == nil || m == nil {
		return nil, nil, fmt.Errorf("helm template rendered no webhook configurations:\n%s", out)
	}
	return v, m, nil
}

// pointAt turns the chart's Service reference into the local URL.
func pointAt(cc admissionregistrationv1.WebhookClientConfig, w *Webhook) admissionregistrationv1.WebhookClientConfig {
	path := "/"
	if cc.Service != nil && cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	return admissionregistrationv1.WebhookClientConfig{URL: ptr.To(w.URL(path)), CABundle: w.caPEM}
}

// WriteServingCert creates a throwaway CA and a serving certificate for
// 127.0.0.1 signed by it, writes tls.crt and tls.key to dir, and returns
// the CA in PEM for the webhook configurations' caBundle.
func WriteServingCert(dir string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	notBefore := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "meshguard-demo-ca"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err)
	}
	return n
}

// FreePorts asks the kernel for n distinct free loopback ports.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Tail returns the last n lines of the file at path, indented.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
