package main

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
	"errors"
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

	// Imported only so that istio.io/api stays in the module graph: the
	// Istio CRDs are read from that module's directory, not from Go code.
	_ "istio.io/api/label"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// istioCRDFile is the file inside the istio.io/api module that holds every
// Istio CustomResourceDefinition.
const istioCRDFile = "kubernetes/customresourcedefinitions.gen.yaml"

// chartDir is the Helm chart, relative to the repository root.
const chartDir = "deploy/charts/meshguard"

// tools are the binaries that hack/tools/build.sh produces.
type tools struct {
	assets string // kube-apiserver and etcd
	helm   string
}

// buildTools runs hack/tools/build.sh (its progress goes to logPath) unless
// KUBEBUILDER_ASSETS and HELM are both set.
func buildTools(ctx context.Context, repo, logPath string) (tools, error) {
	if a, h := os.Getenv("KUBEBUILDER_ASSETS"), os.Getenv("HELM"); a != "" && h != "" {
		return tools{assets: a, helm: h}, nil
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return tools{}, err
	}
	defer logFile.Close()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "hack", "tools", "build.sh"))
	cmd.Stdout, cmd.Stderr = &stdout, logFile
	if err := cmd.Run(); err != nil {
		return tools{}, fmt.Errorf("hack/tools/build.sh: %w\n%s", err, tail(logPath, 20))
	}
	var t tools
	for line := range strings.Lines(stdout.String()) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch key {
		case "KUBEBUILDER_ASSETS":
			t.assets = value
		case "HELM":
			t.helm = value
		}
	}
	if t.assets == "" || t.helm == "" {
		return tools{}, fmt.Errorf("hack/tools/build.sh printed no KUBEBUILDER_ASSETS or HELM line: %q", stdout.String())
	}
	return t, nil
}

// buildWebhook compiles cmd/webhook from the repository root, so the binary
// uses the root module's dependency versions.
func buildWebhook(ctx context.Context, repo, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/webhook")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/webhook: %w\n%s", err, b)
	}
	return nil
}

// istioCRDPath returns the Istio CRD file of the istio.io/api version this
// module requires.
func istioCRDPath(ctx context.Context, repo string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api")
	cmd.Dir = filepath.Join(repo, "hack", "demo")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate istio.io/api: %w: %s", err, stderr.String())
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("istio.io/api is not in the module cache; run go mod download istio.io/api in hack/demo")
	}
	path := filepath.Join(dir, filepath.FromSlash(istioCRDFile))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("istio CRDs: %w", err)
	}
	return path, nil
}

// startControlPlane starts kube-apiserver and etcd with the Istio CRDs. The
// caller stops the environment, also when an error is returned.
func startControlPlane(assets, crds string) (*envtest.Environment, error) {
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		// Source-built binaries on a cold page cache start slower than the
		// 20 s default is tuned for.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	_, err := env.Start()
	return env, err
}

// webhook is a running `webhook serve` process.
type webhook struct {
	mode       string
	port       int
	healthAddr string
	caPEM      []byte
	logPath    string
	cmd        *exec.Cmd
	done       chan struct{}
	err        error // valid after done is closed
}

func (w *webhook) url(path string) string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(w.port)) + path
}

// startWebhook runs bin in mode with a fresh serving certificate on free
// loopback ports and waits until it is ready. Its output goes to a log file
// in dir.
func startWebhook(ctx context.Context, bin, dir, kubeconfig, mode string) (*webhook, error) {
	certDir := filepath.Join(dir, "certs-"+mode)
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	caPEM, err := writeServingCert(certDir)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	w := &webhook{
		mode:       mode,
		port:       ports[0],
		healthAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
		caPEM:      caPEM,
		logPath:    filepath.Join(dir, "webhook-"+mode+".log"),
		done:       make(chan struct{}),
	}
	logFile, err := os.Create(w.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	w.cmd = exec.Command(bin, "serve",
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(w.port),
		"--cert-dir", certDir,
		"--metrics-bind-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		"--health-probe-bind-address", w.healthAddr,
		"--kubeconfig", kubeconfig,
		"--mode", mode,
		"--shutdown-delay", "0s",
	)
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
		w.stop()
		return nil, fmt.Errorf("webhook (%s mode) not ready: %w\nlast lines of %s:\n%s", mode, err, w.logPath, tail(w.logPath, 15))
	}
	return w, nil
}

// waitReady polls /readyz and a TLS handshake on the webhook port.
func (w *webhook) waitReady(ctx context.Context) error {
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

// stop sends SIGTERM, waits up to 15 s, then kills.
func (w *webhook) stop() {
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

// renderWebhookConfigs renders the chart's two webhook configurations for
// mode with `helm template` and points every entry at w instead of the
// in-cluster Service.
func renderWebhookConfigs(ctx context.Context, helm, repo, mode string, w *webhook) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration, error) {
	cmd := exec.CommandContext(ctx, helm, "template", "meshguard", filepath.Join(repo, chartDir),
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
				v.Webhooks[i].ClientConfig = local(v.Webhooks[i].ClientConfig, w)
			}
		case "MutatingWebhookConfiguration":
			m = &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := yaml.UnmarshalStrict(doc, m); err != nil {
				return nil, nil, err
			}
			for i := range m.Webhooks {
				m.Webhooks[i].ClientConfig = local(m.Webhooks[i].ClientConfig, w)
			}
		}
	}
	if v == nil || m == nil {
		return nil, nil, fmt.Errorf("helm template rendered no webhook configurations:\n%s", out)
	}
	return v, m, nil
}

// local turns the chart's Service reference into the local URL.
func local(cc admissionregistrationv1.WebhookClientConfig, w *webhook) admissionregistrationv1.WebhookClientConfig {
	path := "/"
	if cc.Service != nil && cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	return admissionregistrationv1.WebhookClientConfig{URL: ptr.To(w.url(path)), CABundle: w.caPEM}
}

// register creates or replaces both webhook configurations.
func register(ctx context.Context, cs kubernetes.Interface, v *admissionregistrationv1.ValidatingWebhookConfiguration, m *admissionregistrationv1.MutatingWebhookConfiguration) error {
	vc := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if old, err := vc.Get(ctx, v.Name, metav1.GetOptions{}); err == nil {
		v.ResourceVersion = old.ResourceVersion
		_, err = vc.Update(ctx, v, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
	} else if apierrors.IsNotFound(err) {
		if _, err := vc.Create(ctx, v, metav1.CreateOptions{}); err != nil {
			return err
		}
	} else {
		return err
	}
	mc := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if old, err := mc.Get(ctx, m.Name, metav1.GetOptions{}); err == nil {
		m.ResourceVersion = old.ResourceVersion
		_, err = mc.Update(ctx, m, metav1.UpdateOptions{})
		return err
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	_, err := mc.Create(ctx, m, metav1.CreateOptions{})
	return err
}

// writeServingCert creates a throwaway CA and a serving certificate for
// 127.0.0.1 signed by it, writes tls.crt and tls.key to dir, and returns
// the CA in PEM for the webhook configurations' caBundle.
func writeServingCert(dir string) ([]byte, error) {
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

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
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

// tail returns the last n lines of the file at path, indented.
func tail(path string, n int) string {
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
