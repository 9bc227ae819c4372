package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// Stream and rotation bounds of TestSelfManagedCertRotation.
const (
	// streamWorkers send admission requests concurrently.
	streamWorkers = 3
	// streamPause is the pause between two requests of one worker.
	streamPause = 10 * time.Millisecond
	// streamMargin is how many requests must pass before the rotation is
	// forced, and again after the new certificate is served.
	streamMargin = 20
	// rotationWait bounds the wait for the new certificate to be served.
	rotationWait = 30 * time.Second
	// expiryMetric is certs.ExpiryMetric, which lives in the root module.
	expiryMetric = "meshguard_cert_expiry_timestamp_seconds"
)

// TestSelfManagedCertRotation runs the webhook with --cert-mode=self behind
// the chart's webhook configurations (rendered with certificates.mode=self,
// so without a caBundle) and the empty Secret the chart creates: the webhook
// fills the Secret, injects its CA into every entry, and serves. A rotation
// of the serving certificate, forced the way an operator would (dropping
// tls.crt and tls.key from the Secret), happens while a stream of admission
// requests runs through the API server; not one of them may fail, and the
// caBundle must not change.
func TestSelfManagedCertRotation(t *testing.T) {
	requireWebhook(t)
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	ctx := context.Background()

	rendered := harness.RenderChartWebhooks(t, map[string]any{
		"certificates": map[string]any{"mode": "self"},
	})
	if rendered.Validating == nil || rendered.Mutating == nil {
		t.Fatalf("the chart's default values render no validating or mutating configuration: %s", rendered)
	}
	// The Service the chart points its entries at names the DNS name the
	// serving certificate is issued for, and its namespace is the release's,
	// where the chart creates the Secret.
	svc := rendered.Validating.Webhooks[0].ClientConfig.Service
	if svc == nil {
		t.Fatalf("rendered clientConfig has no service: %+v", rendered.Validating.Webhooks[0].ClientConfig)
	}
	namespace := svc.Namespace
	serviceDNS := svc.Name + "." + svc.Namespace + ".svc"
	// deploy/charts/meshguard/templates/secret.yaml: meshguard.selfSecret,
	// <fullname>-tls, and the fullname is the release name here.
	secretName := harness.ChartReleaseName + "-tls"

	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: secretName}, Type: corev1.SecretTypeOpaque},
	} {
		if err := cp.Client.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}

	w := harness.StartWebhook(t, bin, harness.WebhookOptions{
		Kubeconfig:      cp.Kubeconfig,
		SelfManagedCert: true,
		ExtraArgs: []string{
			"--shutdown-delay=0s",
			"--cert-mode=self",
			"--cert-secret=" + secretName,
			"--cert-namespace=" + namespace,
			"--webhook-service=" + serviceDNS,
			// The API server calls the webhook by URL on localhost.
			"--cert-dns-names=localhost",
			"--validating-webhook-configuration=" + rendered.Validating.Name,
			"--mutating-webhook-configuration=" + rendered.Mutating.Name,
		},
		// The entries call w.Port, known once the process runs; readiness
		// waits until the CA is injected into them.
		BeforeReady: func(w *harness.Webhook) error {
			registerSelfMode(t, cp.Client, rendered, w.Port)
			return nil
		},
	})

	// The Secret is filled and the CA is in every entry.
	secret := getSecret(t, cp.Client, namespace, secretName)
	for _, key := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if len(secret.Data[key]) == 0 {
			t.Fatalf("secret %s/%s has no %s; keys: %v", namespace, secretName, key, keysOf(secret.Data))
		}
	}
	caPEM := secret.Data["ca.crt"]
	assertCABundles(t, cp.Client, rendered, caPEM)
	firstServed := servedLeaf(t, w.Port, caPEM, serviceDNS)
	t.Logf("serving certificate issued at %s, valid until %s", firstServed.NotBefore, firstServed.NotAfter)

	// The story's gce Ingress in a meshed namespace is what every request of
	// the stream sends, as a dry run; the webhook must deny it each time.
	ns := createNamespace(t, cp.Client, "selfcerts", meshed)
	ing := storyIngress(t, ns)
	denial := createUntilDenied(t, cp.Client, ing.DeepCopy())
	if !strings.Contains(denial.Error(), "[ingress-in-mesh]") {
		t.Fatalf("first denial %q is not the ingress-in-mesh rule's", denial)
	}

	// A client of its own, whose handler takes the warnings that come with
	// each denial.
	streamClient, _ := warningClient(t, cp.Config)
	stream := startAdmissionStream(t, streamClient, ing)
	stream.waitFor(t, streamMargin, "requests before the rotation")

	// Force a rotation of the serving certificate: drop it from the Secret,
	// keeping the CA, as certs/self_test.go does.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := getSecret(t, cp.Client, namespace, secretName)
		delete(s.Data, "tls.crt")
		delete(s.Data, "tls.key")
		return cp.Client.Update(ctx, s)
	}); err != nil {
		t.Fatalf("drop the serving certificate from the Secret: %v", err)
	}
	rotatedAt := time.Now()
	var secondServed *x509.Certificate
	harness.WaitFor(t, rotationWait, "the webhook serves a new certificate", func() error {
		leaf, err := dialLeaf(w.Port, caPEM, "localhost")
		if err != nil {
			return err
		}
		// cert-controller gives every serving certificate the same serial
		// number, so compare the certificates themselves.
		if bytes.Equal(leaf.Raw, firstServed.Raw) {
			return fmt.Errorf("still serving the certificate issued at %s", leaf.NotBefore)
		}
		secondServed = leaf
		return nil
	})
	t.Logf("new serving certificate (issued at %s, valid until %s) served %s after the rotation was forced",
		secondServed.NotBefore, secondServed.NotAfter, time.Since(rotatedAt).Round(time.Millisecond))
	stream.waitFor(t, stream.count()+streamMargin, "requests after the rotation")
	total, failures := stream.stop()

	t.Logf("%d admission requests from %d workers, %d failed", total, streamWorkers, len(failures))
	if total == 0 {
		t.Error("no admission request was sent")
	}
	for i, f := range failures {
		if i == 10 {
			t.Errorf("… and %d more", len(failures)-i)
			break
		}
		t.Errorf("failed admission request: %s", f)
	}

	// The CA did not change, in the Secret or in any entry; the new serving
	// certificate is in the Secret and verifies for the Service's name.
	secret = getSecret(t, cp.Client, namespace, secretName)
	if !bytes.Equal(secret.Data["ca.crt"], caPEM) {
		t.Error("ca.crt in the Secret changed on a serving-certificate rotation")
	}
	if len(secret.Data["tls.crt"]) == 0 || len(secret.Data["tls.key"]) == 0 {
		t.Errorf("secret holds no new serving certificate; keys: %v", keysOf(secret.Data))
	}
	assertCABundles(t, cp.Client, rendered, caPEM)
	servedLeaf(t, w.Port, caPEM, serviceDNS)

	// The expiry gauge describes the certificate served now.
	expiry := scrapeGauge(t, w.MetricsAddr, expiryMetric)
	if !(expiry > float64(time.Now().Unix())) {
		t.Errorf("%s = %v, not in the future", expiryMetric, expiry)
	}
	if want := float64(secondServed.NotAfter.Unix()); expiry != want {
		t.Errorf("%s = %v, want the served certificate's NotAfter %v (%s)", expiryMetric, expiry, want, secondServed.NotAfter)
	}
}

// registerSelfMode points every entry of rendered at the webhook on
// localhost:port by URL, keeping the rendered path and its empty caBundle,
// and creates both configurations; they are deleted when the test ends.
func registerSelfMode(t *testing.T, c client.Client, rendered harness.ChartWebhooks, port int) {
	t.Helper()
	point := func(name string, cc *admissionregistrationv1.WebhookClientConfig) {
		t.Helper()
		if cc.Service == nil || cc.Service.Path == nil {
			t.Fatalf("webhook %s: rendered clientConfig has no service path: %+v", name, cc)
		}
		if len(cc.CABundle) != 0 {
			t.Fatalf("webhook %s: certificates.mode=self rendered a caBundle without a cluster", name)
		}
		*cc = admissionregistrationv1.WebhookClientConfig{
			URL: ptr.To("https://" + net.JoinHostPort("localhost", strconv.Itoa(port)) + *cc.Service.Path),
		}
	}
	v := rendered.Validating.DeepCopy()
	for i := range v.Webhooks {
		point(v.Webhooks[i].Name, &v.Webhooks[i].ClientConfig)
	}
	m := rendered.Mutating.DeepCopy()
	for i := range m.Webhooks {
		point(m.Webhooks[i].Name, &m.Webhooks[i].ClientConfig)
	}
	for _, obj := range []client.Object{v, m} {
		if err := c.Create(context.Background(), obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
		t.Cleanup(func() {
			if err := c.Delete(context.Background(), obj); client.IgnoreNotFound(err) != nil {
				t.Errorf("delete %T %s: %v", obj, obj.GetName(), err)
			}
		})
	}
}

// assertCABundles checks that every entry of both configurations carries
// caPEM as its caBundle.
func assertCABundles(t *testing.T, c client.Client, rendered harness.ChartWebhooks, caPEM []byte) {
	t.Helper()
	ctx := context.Background()
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: rendered.Validating.Name}, v); err != nil {
		t.Fatal(err)
	}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: rendered.Mutating.Name}, m); err != nil {
		t.Fatal(err)
	}
	bundles := map[string][]byte{}
	for _, w := range v.Webhooks {
		bundles["validating "+w.Name] = w.ClientConfig.CABundle
	}
	for _, w := range m.Webhooks {
		bundles["mutating "+w.Name] = w.ClientConfig.CABundle
	}
	if len(bundles) != len(rendered.Validating.Webhooks)+len(rendered.Mutating.Webhooks) {
		t.Fatalf("configurations hold %d entries, the chart rendered %d", len(bundles), len(rendered.Validating.Webhooks)+len(rendered.Mutating.Webhooks))
	}
	for name, b := range bundles {
		if !bytes.Equal(b, caPEM) {
			t.Errorf("%s: caBundle %.60q… is not the Secret's ca.crt", name, b)
		}
	}
}

func getSecret(t *testing.T, c client.Client, namespace, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatalf("get secret %s/%s: %v", namespace, name, err)
	}
	return s
}

func keysOf(data map[string][]byte) []string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	return keys
}

// dialLeaf completes a TLS handshake with the webhook on localhost:port,
// verifying the served chain against caPEM for serverName, and returns the
// served leaf certificate.
func dialLeaf(port int, caPEM []byte, serverName string) (*x509.Certificate, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("ca.crt holds no PEM certificate")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp",
		net.JoinHostPort("localhost", strconv.Itoa(port)),
		&tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// servedLeaf is dialLeaf that fails the test.
func servedLeaf(t *testing.T, port int, caPEM []byte, serverName string) *x509.Certificate {
	t.Helper()
	leaf, err := dialLeaf(port, caPEM, serverName)
	if err != nil {
		t.Fatalf("TLS handshake with the webhook as %s, verified against ca.crt: %v", serverName, err)
	}
	return leaf
}

// admissionStream sends dry-run creates of one Ingress from streamWorkers
// goroutines until stopped, and counts them; a denial by the ingress-in-mesh
// rule is a success, anything else (an admission, a failed webhook call) a
// failure.
type admissionStream struct {
	sent     atomic.Int64
	mu       sync.Mutex
	failures []string
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// streamLimit bounds a stream that the test fails to stop.
const streamLimit = 2 * time.Minute

func startAdmissionStream(t *testing.T, c client.Client, ing client.Object) *admissionStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), streamLimit)
	s := &admissionStream{cancel: cancel}
	for range streamWorkers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for ctx.Err() == nil {
				err := c.Create(ctx, ing.DeepCopyObject().(client.Object), client.DryRunAll)
				if ctx.Err() != nil {
					// Stopped mid-request: neither a success nor a failure.
					return
				}
				s.sent.Add(1)
				if err == nil || !strings.Contains(err.Error(), "[ingress-in-mesh]") {
					s.mu.Lock()
					s.failures = append(s.failures, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), errOrAdmitted(err)))
					s.mu.Unlock()
				}
				time.Sleep(streamPause)
			}
		}()
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func errOrAdmitted(err error) string {
	if err == nil {
		return "admitted"
	}
	return err.Error()
}

func (s *admissionStream) count() int { return int(s.sent.Load()) }

// waitFor waits, bounded, until n requests have been sent.
func (s *admissionStream) waitFor(t *testing.T, n int, what string) {
	t.Helper()
	harness.WaitFor(t, rotationWait, fmt.Sprintf("%d %s", n, what), func() error {
		if got := s.count(); got < n {
			return fmt.Errorf("%d sent", got)
		}
		return nil
	})
}

// stop ends the stream, waits for its workers, and returns how many requests
// were sent and the failures among them.
func (s *admissionStream) stop() (int, []string) {
	s.stopOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count(), s.failures
}

// scrapeGauge returns the value of the unlabelled metric name on the
// webhook's /metrics endpoint.
func scrapeGauge(t *testing.T, addr, name string) float64 {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		metric, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || metric != name {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || math.IsNaN(v) {
			t.Fatalf("%s: value %q: %v", name, value, err)
		}
		return v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read metrics: %v", err)
	}
	t.Fatalf("metrics have no %s sample", name)
	return 0
}
