package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	core "github.com/meshguard/meshguard/internal/harness"
	"github.com/meshguard/meshguard/internal/testcert"
	"github.com/meshguard/meshguard/test/e2e/harness"
)

// clock formats the times the upgrade tests log.
const clock = "15:04:05.000"

// Bounds of the helm upgrade tests.
const (
	// upgradeWriters write concurrently, each pausing upgradeWritePause
	// between two writes, at most upgradeMaxWrites in all.
	upgradeWriters    = 3
	upgradeWritePause = 60 * time.Millisecond
	upgradeMaxWrites  = 3000
	// upgradePhaseWrites is how many writes each settled phase must see
	// before the next step starts.
	upgradePhaseWrites = 30
	// upgradeRollout bounds a rollout of the pod runner, old pods' exit
	// included.
	upgradeRollout = 90 * time.Second
	// upgradeHelmTimeout bounds one helm command.
	upgradeHelmTimeout = 2 * time.Minute
	// upgradeWriteTimeout bounds one write.
	upgradeWriteTimeout = 20 * time.Second
)

// phaseRule says what a phase of the write stream allows and requires.
type phaseRule struct {
	// denials: meshguard may deny the classless Ingress.
	denials bool
	// mustDeny: a settled enforce phase, which must see denials.
	mustDeny bool
	// answered: every write must carry the webhook's answer in this mode
	// ("audit": a warning; "enforce": a denial or a mutation; "any":
	// either); "" requires nothing; "none" requires that no meshguard
	// answer is seen.
	answered string
}

// releaseState is what one helm install or upgrade asks for.
type releaseState struct {
	mode     string // audit or enforce
	replicas int
	certs    string // self or provided
}

// upgradeStep is one helm install or upgrade of a scenario.
type upgradeStep struct {
	name string
	releaseState
}

// The helm upgrade tests install the chart with the real helm and upgrade
// and uninstall it, while three clients keep writing Ingresses with and
// without the Istio class and nginx ConfigMaps into a meshed namespace.
// The parts of a cluster envtest lacks are played by the test
// (podrunner_test.go): the webhook Service becomes an ExternalName Service
// for 127.0.0.1 through a Helm post-renderer, a proxy is kube-proxy, and a
// runner starts `webhook serve` from the Deployment's pod template and
// rolls it out like a RollingUpdate with maxUnavailable 0; the pre-delete
// hook Job is run with the webhook binary's own `remove-webhooks`.
//
// No write may fail in audit mode; none may fail in enforce mode for
// another reason than meshguard's denial; every write must carry the
// webhook's answer (so that failurePolicy Ignore cannot hide an
// unreachable webhook), during a rollout too; after each rollout the
// configurations' caBundle must verify the pods behind the Service; the
// webhook configurations must be deleted before the Deployment and the
// Service; after uninstall every write succeeds unreviewed.

// TestHelmUpgradeAndUninstallUnderWrites is issue #19's sequence: install
// in audit mode with self-managed certificates and 2 replicas, then
// replicas 2→1, certificates self→provided, mode audit→enforce with
// replicas 1→2, then uninstall.
func TestHelmUpgradeAndUninstallUnderWrites(t *testing.T) {
	runUpgradeScenario(t, []upgradeStep{
		{"install", releaseState{"audit", 2, "self"}},
		{"upgrade replicas 2→1", releaseState{"audit", 1, "self"}},
		{"upgrade certificates self→provided", releaseState{"audit", 1, "provided"}},
		{"upgrade mode audit→enforce, replicas 1→2", releaseState{"enforce", 2, "provided"}},
	})
}

// TestHelmRollingUpgradesUnderWrites is the same without the change of
// certificate mode, and with a scale-down in enforce mode: install in audit
// mode with 2 replicas, replicas 2→1, mode audit→enforce with replicas 1→2,
// replicas 2→1 in enforce, then uninstall.
func TestHelmRollingUpgradesUnderWrites(t *testing.T) {
	runUpgradeScenario(t, []upgradeStep{
		{"install", releaseState{"audit", 2, "self"}},
		{"upgrade replicas 2→1", releaseState{"audit", 1, "self"}},
		{"upgrade mode audit→enforce, replicas 1→2", releaseState{"enforce", 2, "self"}},
		{"upgrade replicas 2→1 in enforce", releaseState{"enforce", 1, "self"}},
	})
}

// TestHelmCertificateSwitchInEnforceUnderWrites switches certificates
// self→provided in enforce mode, where failurePolicy is Fail.
func TestHelmCertificateSwitchInEnforceUnderWrites(t *testing.T) {
	runUpgradeScenario(t, []upgradeStep{
		{"install", releaseState{"audit", 1, "self"}},
		{"upgrade mode audit→enforce", releaseState{"enforce", 1, "self"}},
		{"upgrade certificates self→provided in enforce", releaseState{"enforce", 1, "provided"}},
	})
}

func runUpgradeScenario(t *testing.T, steps []upgradeStep) {
	requireWebhook(t)
	ctx := context.Background()
	tools, err := core.FindTools(ctx, harness.RepoRoot(t), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	testStart := time.Now()

	const (
		release  = harness.ChartReleaseName
		relNS    = harness.ChartReleaseNamespace
		fullname = harness.ChartReleaseName // the chart's fullname for this release
	)
	serviceDNS := fullname + "." + relNS + ".svc"
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	servicePort := ports[0]
	proxy, err := startServiceProxy(net.JoinHostPort("127.0.0.1", strconv.Itoa(servicePort)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.close)

	// The provided certificate, in a Secret the operator creates before
	// switching to it.
	provided, err := testcert.New(testcert.Options{DNSNames: []string{serviceDNS}})
	if err != nil {
		t.Fatal(err)
	}
	const servingSecret = "meshguard-serving"

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helmHome := t.TempDir()
	helm := func(args ...string) {
		t.Helper()
		hctx, cancel := context.WithTimeout(ctx, upgradeHelmTimeout+30*time.Second)
		defer cancel()
		args = append(args, "--kubeconfig", cp.Kubeconfig, "--namespace", relNS, "--timeout", upgradeHelmTimeout.String())
		if args[0] != "uninstall" {
			args = append(args, "--post-renderer", self)
		}
		cmd := exec.CommandContext(hctx, tools.Helm, args...)
		cmd.Env = append(os.Environ(),
			"HELM_CACHE_HOME="+helmHome+"/cache", "HELM_CONFIG_HOME="+helmHome+"/config", "HELM_DATA_HOME="+helmHome+"/data",
			postRenderEnv+"="+fullname, postRenderAddressEnv+"=127.0.0.1")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("helm %s: %s, done at %s", args[0], time.Since(start).Round(time.Millisecond), time.Now().UTC().Format(clock))
	}
	valuesFile := func(s releaseState) string {
		t.Helper()
		// engine: webhook, so that every rule is the webhook's: a compiled
		// policy is owned by the ValidatingWebhookConfiguration and only a
		// garbage collector, which envtest lacks, would remove it on
		// uninstall.
		v := fmt.Sprintf("engine: webhook\nservice: {port: %d}\nmode: %s\nreplicaCount: %d\n", servicePort, s.mode, s.replicas)
		if s.certs == "provided" {
			v += "certificates: {mode: provided, provided: {secretName: " + servingSecret + ", caBundle: " + strconv.Quote(string(provided.CA.PEM)) + "}}\n"
		} else {
			v += "certificates: {mode: " + s.certs + "}\n"
		}
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	chart := harness.ChartDir(t)

	// The pod runner plays the cluster from the first helm install on.
	runner := startPodRunner(cp.Client, cp.Config, bin, t.TempDir(), client.ObjectKey{Namespace: relNS, Name: fullname}, proxy)
	t.Cleanup(func() {
		runner.stop()
		if t.Failed() {
			t.Logf("pod logs:\n%s", runner.logTails(15))
		}
	})
	waitRollout := func(what string) {
		t.Helper()
		harness.WaitFor(t, upgradeRollout, what+" rolled out by the pod runner", func() error {
			if errs := runner.errors(); len(errs) > 0 {
				t.Fatalf("pod runner: %v\n%s", errors.Join(errs...), runner.eventLog())
			}
			dep := &appsv1.Deployment{}
			if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: relNS, Name: fullname}, dep); err != nil {
				return err
			}
			if !runner.rolledOut(dep) {
				return fmt.Errorf("%d pods serving, template %s replicas %d not rolled out yet", runner.servingPods(), templateHash(dep), *dep.Spec.Replicas)
			}
			// Old pods serve the connections they hold until they exit.
			if !runner.settled() {
				return errors.New("old pods still terminating")
			}
			return nil
		})
	}

	// checkServing checks, once a step has rolled out, that the webhook
	// configurations' caBundle verifies every pod behind the Service for
	// the name the API server checks, and, when wantCA is set, that it
	// holds wantCA: only wantCA when exact, else wantCA and possibly the
	// self mode's CA the chart keeps trusted while it switches away from it.
	checkServing := func(step string, wantCA []byte, exact bool) {
		t.Helper()
		entries := caBundleEntries(t, cp.Client, fullname)
		var wrong []string
		for _, e := range entries {
			switch {
			case wantCA == nil:
			case exact && strings.TrimSpace(string(e.bundle)) != strings.TrimSpace(string(wantCA)),
				!strings.HasPrefix(string(e.bundle), strings.TrimSpace(string(wantCA))):
				wrong = append(wrong, e.entry)
			}
		}
		if len(wrong) > 0 {
			t.Errorf("after %q, %d of %d webhook entries do not carry the CA of the serving certificate in their caBundle (exactly: %v): %s; issuers in the caBundles: %s; the fields' managers: %s",
				step, len(wrong), len(entries), exact, strings.Join(wrong, ", "), caIssuers(entries), caBundleManagers(t, cp.Client, fullname))
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if seen[string(e.bundle)] {
				continue
			}
			seen[string(e.bundle)] = true
			// Round robin: as many handshakes as pods, and one more.
			for range runner.servingPods() + 1 {
				if err := verifyServing(proxy.ln.Addr().String(), serviceDNS, e.bundle); err != nil {
					t.Errorf("after %q, a TLS handshake through the Service with the caBundle of %s (%s) fails as the API server's would: %v", step, e.entry, caIssuers(nil, e), err)
					break
				}
			}
		}
	}

	// The writes go to a meshed namespace the release does not exclude.
	ns := createNamespace(t, cp.Client, "upgrade", meshed)
	stream := newWriteStream(t, cp, ns)
	t.Cleanup(stream.stop)

	var prev releaseState
	secretCreated := false
	for i, step := range steps {
		if step.certs == "provided" && !secretCreated {
			if err := cp.Client.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: relNS, Name: servingSecret},
				Type:       corev1.SecretTypeTLS,
				Data:       map[string][]byte{"tls.crt": provided.CertPEM, "tls.key": provided.KeyPEM, "ca.crt": provided.CA.PEM},
			}); err != nil {
				t.Fatal(err)
			}
			secretCreated = true
		}
		var wantCA []byte
		if step.certs == "provided" {
			wantCA = provided.CA.PEM
		}
		if i == 0 {
			if step.mode != "audit" {
				t.Fatal("the scenarios install in audit mode: in enforce mode writes fail until the webhook is ready")
			}
			// Until the webhook answers, failurePolicy Ignore lets writes
			// through unreviewed; none may fail.
			stream.addPhase(step.name+" (until the webhook answers)", phaseRule{})
			helm("install", release, chart, "--create-namespace", "-f", valuesFile(step.releaseState))
			svc := &corev1.Service{}
			if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: relNS, Name: fullname}, svc); err != nil {
				t.Fatal(err)
			}
			if svc.Spec.Type != corev1.ServiceTypeExternalName || svc.Spec.ExternalName != "127.0.0.1" {
				t.Fatalf("the post-renderer did not make the Service ExternalName for 127.0.0.1: %+v", svc.Spec)
			}
			stream.start()
		} else {
			rule := phaseRule{denials: prev.mode == "enforce" || step.mode == "enforce", answered: step.mode}
			if prev.mode != step.mode {
				rule.answered = "any"
			}
			stream.addPhase(step.name+" (rolling out)", rule)
			helm("upgrade", release, chart, "-f", valuesFile(step.releaseState))
		}
		waitRollout(step.name)
		// The release that switches from self still trusts the self CA;
		// the next one trusts only the provided CA.
		checkServing(step.name, wantCA, prev.certs == "provided")
		stream.waitAnswered(t, step.name, step.mode, 15*time.Second)
		stream.addPhase(step.name+" (settled)", phaseRule{denials: step.mode == "enforce", mustDeny: step.mode == "enforce", answered: step.mode})
		stream.waitWrites(t, upgradePhaseWrites)
		prev = step.releaseState
	}

	// Uninstall, watching the order of deletions.
	deletions := watchDeletions(t, cp, relNS, fullname)
	hook := startRemoveWebhooksHook(t, cp.Client, cp.Config, bin, relNS, fullname+"-remove-webhooks")
	stream.addPhase("helm uninstall", phaseRule{denials: prev.mode == "enforce"})
	helm("uninstall", release)
	hookSaw := hook.wait(t)
	harness.WaitFor(t, 30*time.Second, "the pod runner terminates every pod after uninstall", func() error {
		if n := runner.servingPods(); n > 0 {
			return fmt.Errorf("%d pods still serving", n)
		}
		return nil
	})
	stream.addPhase("after uninstall", phaseRule{answered: "none"})
	stream.waitWrites(t, upgradePhaseWrites)
	stream.stop()
	order := deletions.wait(t)

	// The verdict.
	t.Logf("pod runner:\n%s", runner.eventLog())
	if errs := runner.errors(); len(errs) > 0 {
		t.Errorf("pod runner: %v", errors.Join(errs...))
	}
	stream.judge(t)
	t.Logf("deletions on uninstall (etcd revision order):\n%s", order)
	if hookSaw.ran && !hookSaw.deploymentAndService {
		t.Error("the pre-delete hook ran after the Deployment or the Service was gone")
	}
	for _, cfg := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		for _, workload := range []string{"Deployment", "Service"} {
			c, w := order.find(cfg), order.find(workload)
			switch {
			case c == nil:
				t.Errorf("the %s was not deleted by the uninstall", cfg)
			case w == nil:
				t.Errorf("the %s was not deleted by the uninstall", workload)
			case c.rv >= w.rv:
				t.Errorf("the %s (revision %d) was deleted after the %s (revision %d)", cfg, c.rv, workload, w.rv)
			}
		}
	}
	t.Logf("wall time from the control plane up: %s", time.Since(testStart).Round(time.Millisecond))
}

// caBundleEntry is one webhook entry's caBundle.
type caBundleEntry struct {
	entry  string
	bundle []byte
}

// caBundleEntries returns the caBundle of every entry of the release's
// webhook configurations.
func caBundleEntries(t *testing.T, c client.Client, name string) []caBundleEntry {
	t.Helper()
	var out []caBundleEntry
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, v); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, m); err != nil {
		t.Fatal(err)
	}
	for _, e := range v.Webhooks {
		out = append(out, caBundleEntry{"validating " + e.Name, e.ClientConfig.CABundle})
	}
	for _, e := range m.Webhooks {
		out = append(out, caBundleEntry{"mutating " + e.Name, e.ClientConfig.CABundle})
	}
	return out
}

// caIssuers counts the subjects of the CA certificates in the entries'
// caBundles.
func caIssuers(entries []caBundleEntry, more ...caBundleEntry) string {
	count := map[string]int{}
	for _, e := range append(entries, more...) {
		name := "no certificate"
		if blk, _ := pem.Decode(e.bundle); blk != nil {
			if cert, err := x509.ParseCertificate(blk.Bytes); err == nil {
				name = "CN=" + cert.Subject.CommonName
			} else {
				name = err.Error()
			}
		}
		count[name]++
	}
	var out []string
	for name, n := range count {
		out = append(out, fmt.Sprintf("%s ×%d", name, n))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// caBundleManagers lists the field managers that own a caBundle of the
// release's webhook configurations, with the time of their last write.
func caBundleManagers(t *testing.T, c client.Client, name string) string {
	t.Helper()
	var out []string
	for _, obj := range []client.Object{&admissionregistrationv1.ValidatingWebhookConfiguration{}, &admissionregistrationv1.MutatingWebhookConfiguration{}} {
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, obj); err != nil {
			t.Fatal(err)
		}
		kind := strings.TrimPrefix(fmt.Sprintf("%T", obj), "*v1.")
		for _, m := range obj.GetManagedFields() {
			if m.FieldsV1 != nil && strings.Contains(string(m.FieldsV1.Raw), `"f:caBundle"`) {
				out = append(out, fmt.Sprintf("%s: %s (%s at %s)", kind, m.Manager, m.Operation, m.Time.UTC().Format(time.TimeOnly)))
			}
		}
	}
	return strings.Join(out, "; ")
}

// verifyServing does the TLS handshake the API server does with a webhook
// behind addr: trusting only caBundle, for serverName.
func verifyServing(addr, serverName string, caBundle []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundle) {
		return errors.New("no certificate in the caBundle")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: serverName})
	if err != nil {
		return err
	}
	return conn.Close()
}

// Kinds of writes of the stream.
const (
	writeIngress      = "Ingress without an Istio class"
	writeIstioIngress = "Ingress of class istio"
	writeConfigMap    = "nginx ConfigMap"
)

var writeKinds = []string{writeIngress, writeIstioIngress, writeConfigMap}

type writeResult struct {
	kind                 string
	startPhase, endPhase string
	start, end           time.Time
	err                  error
	warnings             []string
	mutated              bool
	denial, none         bool
	answeredAs           string // "audit", "enforce", "any" (both modes answer alike) or ""
}

// writeStream is upgradeWriters clients writing into one meshed namespace.
type writeStream struct {
	ns      string
	ingress *networkingv1.Ingress
	istio   *networkingv1.Ingress
	cm      *corev1.ConfigMap
	clients []client.Client
	recs    []*harness.Warnings

	phase   atomic.Value // string
	phases  []string     // in order
	rules   map[string]phaseRule
	count   atomic.Int64
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped sync.Once

	mu      sync.Mutex
	results []writeResult
}

func newWriteStream(t *testing.T, cp *harness.ControlPlane, ns string) *writeStream {
	s := &writeStream{ns: ns, ingress: storyIngress(t, ns), istio: storyIngress(t, ns), cm: storyConfigMap(t, ns)}
	s.istio.Annotations["kubernetes.io/ingress.class"] = "istio"
	delete(s.istio.Annotations, "kubernetes.io/ingress.global-static-ip-name")
	for range upgradeWriters {
		c, rec := warningClient(t, cp.Config)
		s.clients, s.recs = append(s.clients, c), append(s.recs, rec)
	}
	s.rules = map[string]phaseRule{}
	return s
}

// addPhase starts a phase: the writes that start from now on are judged by
// rule.
func (s *writeStream) addPhase(p string, rule phaseRule) {
	s.mu.Lock()
	s.phases = append(s.phases, p)
	s.rules[p] = rule
	s.mu.Unlock()
	s.phase.Store(p)
}

func (s *writeStream) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for w := range upgradeWriters {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for i := w; ctx.Err() == nil && s.count.Add(1) <= upgradeMaxWrites; i++ {
				s.write(ctx, w, writeKinds[i%len(writeKinds)])
				select {
				case <-ctx.Done():
				case <-time.After(upgradeWritePause):
				}
			}
		}()
	}
}

func (s *writeStream) stop() {
	s.stopped.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
	})
}

func (s *writeStream) write(ctx context.Context, w int, kind string) {
	var obj client.Object
	switch kind {
	case writeIngress:
		obj = s.ingress.DeepCopy()
	case writeIstioIngress:
		obj = s.istio.DeepCopy()
	default:
		obj = s.cm.DeepCopy()
	}
	obj.SetName("")
	obj.SetGenerateName("w-")
	res := writeResult{kind: kind, startPhase: s.phase.Load().(string), start: time.Now()}
	wctx, cancel := context.WithTimeout(ctx, upgradeWriteTimeout)
	s.recs[w].Take()
	res.err = s.clients[w].Create(wctx, obj)
	cancel()
	if ctx.Err() != nil && res.err != nil {
		return // stopped mid-write
	}
	res.endPhase, res.end = s.phase.Load().(string), time.Now()
	res.warnings = s.recs[w].Take()
	res.mutated = strings.Contains(obj.GetAnnotations()["meshguard.dev/mutated"], "nginx-http11")
	msg := ""
	if res.err != nil {
		msg = res.err.Error()
	}
	res.denial = res.err != nil && strings.Contains(msg, "denied the request") && strings.Contains(msg, "[ingress-in-mesh]")
	has := func(parts ...string) bool { return len(harness.Containing(res.warnings, parts...)) > 0 }
	switch kind {
	case writeIngress:
		if res.err == nil && has("[ingress-in-mesh] (audit) would deny") {
			res.answeredAs = "audit"
		} else if res.denial {
			res.answeredAs = "enforce"
		}
	case writeIstioIngress:
		if res.err == nil && has("[ingress-in-mesh]", "Gateway API") {
			res.answeredAs = "any"
		}
	case writeConfigMap:
		if res.err == nil && has("[nginx-http11] (audit) would change") {
			res.answeredAs = "audit"
		} else if res.err == nil && res.mutated {
			res.answeredAs = "enforce"
		}
	}
	// Anything at all from meshguard.
	res.none = !res.mutated && !res.denial && len(harness.Containing(res.warnings, "[")) == 0
	s.mu.Lock()
	s.results = append(s.results, res)
	s.mu.Unlock()
}

func (s *writeStream) snapshot() []writeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]writeResult(nil), s.results...)
}

// waitWrites waits until n more writes have finished in the current phase.
func (s *writeStream) waitWrites(t *testing.T, n int) {
	t.Helper()
	phase := s.phase.Load().(string)
	count := func() int {
		k := 0
		for _, r := range s.snapshot() {
			if r.startPhase == phase && r.endPhase == phase {
				k++
			}
		}
		return k
	}
	from := count()
	harness.WaitFor(t, 60*time.Second, fmt.Sprintf("%d writes in phase %q", n, phase), func() error {
		if c := s.count.Load(); c > upgradeMaxWrites {
			t.Fatalf("the stream reached its cap of %d writes in phase %q: raise upgradeMaxWrites or the pause", upgradeMaxWrites, phase)
		}
		if got := count() - from; got < n {
			return fmt.Errorf("%d writes", got)
		}
		return nil
	})
}

// waitAnswered waits until a classless Ingress write carries the webhook's
// answer in mode (a warning in audit, a denial in enforce).
// It is an error, not the end of the test, when none is: the writes that
// follow are judged and counted all the same.
func (s *writeStream) waitAnswered(t *testing.T, step, mode string, timeout time.Duration) {
	t.Helper()
	from := len(s.snapshot())
	deadline := time.Now().Add(timeout)
	for {
		rs := s.snapshot()
		for _, r := range rs[from:] {
			if r.kind == writeIngress && r.answeredAs == mode {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("after %q, no write of the %d since was answered by the webhook in %s mode within %s", step, len(rs)-from, mode, timeout)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// judge applies each phase's rules to the writes and logs the numbers.
func (s *writeStream) judge(t *testing.T) {
	t.Helper()
	type tally struct {
		writes, ok, denials, answered, unanswered, transition int
		failures                                              map[string]int
		byKind                                                map[string]int
	}
	tallies := map[string]*tally{}
	s.mu.Lock()
	phases, rules := slices.Clone(s.phases), maps.Clone(s.rules)
	s.mu.Unlock()
	for _, p := range phases {
		tallies[p] = &tally{failures: map[string]int{}, byKind: map[string]int{}}
	}
	// Problems are grouped by phase, kind and reason, with one example.
	type problem struct {
		n       int
		example writeResult
	}
	problems := map[string]*problem{}
	var order []string
	report := func(r writeResult, why string) {
		key := fmt.Sprintf("phase %q: %s: %s", r.startPhase, r.kind, why)
		if problems[key] == nil {
			problems[key] = &problem{example: r}
			order = append(order, key)
		}
		problems[key].n++
	}
	for _, r := range s.snapshot() {
		tl := tallies[r.startPhase]
		tl.writes++
		tl.byKind[r.kind]++
		start, end := rules[r.startPhase], rules[r.endPhase]
		transition := r.startPhase != r.endPhase
		if transition {
			tl.transition++
		}
		switch {
		case r.err == nil:
			tl.ok++
		case r.denial && r.kind == writeIngress:
			tl.denials++
			if !start.denials && !end.denials {
				tl.failures["denial in audit"]++
				report(r, "denied in a phase without denials")
			}
		default:
			class := failureClass(r.err)
			tl.failures[class]++
			report(r, "failed: "+class)
		}
		if r.answeredAs != "" {
			tl.answered++
		}
		// A transition is judged by neither phase's answer; a failed write
		// is reported as a failure already.
		if transition || (r.err != nil && !r.denial) {
			continue
		}
		switch want := start.answered; want {
		case "audit", "enforce":
			if r.answeredAs != want && r.answeredAs != "any" {
				tl.unanswered++
				report(r, "not answered by the webhook in "+want+" mode")
			}
		case "any":
			if r.answeredAs == "" {
				tl.unanswered++
				report(r, "not answered by the webhook")
			}
		case "none":
			if !r.none {
				tl.unanswered++
				report(r, "reviewed by meshguard after uninstall")
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-64s %6s %5s %7s %8s %10s %10s  %s\n", "phase", "writes", "ok", "denied", "answered", "unanswered", "transition", "failures")
	for _, p := range phases {
		tl := tallies[p]
		fmt.Fprintf(&b, "%-64s %6d %5d %7d %8d %10d %10d  %v\n", p, tl.writes, tl.ok, tl.denials, tl.answered, tl.unanswered, tl.transition, tl.failures)
	}
	t.Logf("writes by the phase they started in:\n%s", b.String())
	for _, key := range order {
		p := problems[key]
		r := p.example
		t.Errorf("%s: %d writes; e.g. one from %s to %s, ending in phase %q: err=%v warnings=%q", key, p.n, r.start.UTC().Format(clock), r.end.UTC().Format(clock), r.endPhase, r.err, r.warnings)
	}
	for _, p := range phases {
		if !strings.HasSuffix(p, "(settled)") && p != "after uninstall" {
			continue
		}
		if tallies[p].writes < upgradePhaseWrites {
			t.Errorf("phase %q saw %d writes, want at least %d", p, tallies[p].writes, upgradePhaseWrites)
		}
		for _, k := range writeKinds {
			if tallies[p].byKind[k] == 0 {
				t.Errorf("phase %q saw no %s", p, k)
			}
		}
	}
	for _, p := range phases {
		if rules[p].mustDeny && tallies[p].denials == 0 {
			t.Errorf("no denial in phase %q: the webhook did not enforce", p)
		}
	}
}

// failureClass names the kind of a write's error, without the object names.
func failureClass(err error) string {
	msg := err.Error()
	for _, c := range []string{"x509", "connection refused", "connection reset", "EOF", "context deadline exceeded", "Timeout", "no endpoints", "failed calling webhook", "denied the request"} {
		if strings.Contains(msg, c) {
			return c
		}
	}
	if apierrors.IsInternalError(err) {
		return "internal error"
	}
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return msg
}

// deletion is one object's deletion seen by a watch.
type deletion struct {
	what string
	rv   int64
	at   time.Time
}

type deletionOrder []deletion

func (o deletionOrder) find(what string) *deletion {
	for i := range o {
		if o[i].what == what {
			return &o[i]
		}
	}
	return nil
}

func (o deletionOrder) String() string {
	var b strings.Builder
	for _, d := range o {
		fmt.Fprintf(&b, "  revision %d at %s: %s\n", d.rv, d.at.UTC().Format(clock), d.what)
	}
	return b.String()
}

type deletionWatch struct {
	mu     sync.Mutex
	seen   deletionOrder
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// watchDeletions watches the release's webhook configurations, Deployment
// and Service and records the etcd revision of each one's deletion.
func watchDeletions(t *testing.T, cp *harness.ControlPlane, ns, name string) *deletionWatch {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	d := &deletionWatch{cancel: cancel}
	opts := metav1.ListOptions{FieldSelector: "metadata.name=" + name}
	watches := map[string]func() (watch.Interface, error){
		"ValidatingWebhookConfiguration": func() (watch.Interface, error) {
			return cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Watch(ctx, opts)
		},
		"MutatingWebhookConfiguration": func() (watch.Interface, error) {
			return cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Watch(ctx, opts)
		},
		"Deployment": func() (watch.Interface, error) { return cs.AppsV1().Deployments(ns).Watch(ctx, opts) },
		"Service":    func() (watch.Interface, error) { return cs.CoreV1().Services(ns).Watch(ctx, opts) },
	}
	for what, start := range watches {
		w, err := start()
		if err != nil {
			t.Fatalf("watch the %s: %v", what, err)
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer w.Stop()
			for ev := range w.ResultChan() {
				if ev.Type != watch.Deleted {
					continue
				}
				obj, ok := ev.Object.(metav1.Object)
				if !ok {
					continue
				}
				rv, _ := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
				d.mu.Lock()
				d.seen = append(d.seen, deletion{what: what, rv: rv, at: time.Now()})
				d.mu.Unlock()
				return
			}
		}()
	}
	t.Cleanup(cancel)
	return d
}

// wait waits (bounded by the watches' context) for the four deletions and
// returns them in etcd revision order.
func (d *deletionWatch) wait(t *testing.T) deletionOrder {
	t.Helper()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.cancel()
		<-done
		t.Errorf("not every deletion was seen within 30s after uninstall")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.seen)
	sort.Slice(out, func(i, j int) bool { return out[i].rv < out[j].rv })
	return out
}

// removeWebhooksHook plays the chart's pre-delete hook Job: it waits for the
// Job, runs the Job's container args with the webhook binary (which is the
// chart's image), and completes the Job as the Job controller would.
type removeWebhooksHook struct {
	done   chan hookSeen
	cancel context.CancelFunc
}

// hookSeen is what the hook saw when its Job appeared.
type hookSeen struct {
	ran                  bool
	deploymentAndService bool
}

func startRemoveWebhooksHook(t *testing.T, c client.Client, cfg *rest.Config, bin, ns, name string) *removeWebhooksHook {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	h := &removeWebhooksHook{done: make(chan hookSeen, 1), cancel: cancel}
	go func() {
		defer cancel()
		defer close(h.done)
		job := &batchv1.Job{}
		for c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job) != nil {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		seen := hookSeen{ran: true}
		base := client.ObjectKey{Namespace: ns, Name: strings.TrimSuffix(name, "-remove-webhooks")}
		seen.deploymentAndService = c.Get(ctx, base, &appsv1.Deployment{}) == nil && c.Get(ctx, base, &corev1.Service{}) == nil
		// As the Job's ServiceAccount: the hook's RBAC is the chart's.
		kubeconfig, err := serviceAccountKubeconfig(ctx, cfg, ns, job.Spec.Template.Spec.ServiceAccountName, dir)
		if err != nil {
			t.Errorf("the pre-delete hook: %v", err)
			return
		}
		args := append(slices.Clone(job.Spec.Template.Spec.Containers[0].Args), "--kubeconfig="+kubeconfig)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("the pre-delete hook `webhook %s`: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		now := metav1.Now()
		job.Status = batchv1.JobStatus{
			StartTime: &now, CompletionTime: &now, Succeeded: 1,
			Conditions: []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
		}
		if err := c.Status().Update(ctx, job); err != nil {
			t.Errorf("completing the hook Job: %v", err)
			return
		}
		h.done <- seen
	}()
	return h
}

// wait returns what the hook saw; call it once helm uninstall has
// returned, which it does only after its pre-delete hooks completed.
func (h *removeWebhooksHook) wait(t *testing.T) hookSeen {
	t.Helper()
	select {
	case seen, ok := <-h.done:
		if ok {
			return seen
		}
	case <-time.After(time.Second):
	}
	h.cancel()
	<-h.done
	t.Error("helm uninstall ran no pre-delete hook Job to completion")
	return hookSeen{}
}
