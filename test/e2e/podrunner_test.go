package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	core "github.com/meshguard/meshguard/internal/harness"
)

// This file plays the parts of a cluster that envtest lacks, for tests that
// install the chart with the real helm: a Helm post-renderer that turns the
// chart's webhook Service into an ExternalName Service for 127.0.0.1 (the
// API server's webhook resolver dials <externalName>:<port> and still
// verifies the certificate for <service>.<namespace>.svc), a kube-proxy that
// forwards that port to the ready "pods", and a kubelet plus Deployment
// controller that runs `webhook serve` processes from the Deployment's pod
// template and rolls them like a RollingUpdate with maxUnavailable 0.

// Environment of the test binary run as Helm's post-renderer.
const (
	postRenderEnv        = "MESHGUARD_E2E_POST_RENDER_SERVICE"
	postRenderAddressEnv = "MESHGUARD_E2E_POST_RENDER_ADDRESS"
)

// init makes the test binary Helm's post-renderer when postRenderEnv names
// a Service: it reads the rendered manifests on stdin, writes them to stdout
// with that Service turned into type ExternalName, and exits.
func init() {
	name := os.Getenv(postRenderEnv)
	if name == "" {
		return
	}
	in, err := io.ReadAll(os.Stdin)
	if err == nil {
		var out []byte
		if out, err = externalNameService(in, name, os.Getenv(postRenderAddressEnv)); err == nil {
			_, err = os.Stdout.Write(out)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "post-renderer: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

var yamlDocSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// externalNameService rewrites the Service called name in a stream of YAML
// documents into `type: ExternalName` for address, without a selector or
// cluster IP; the other documents are passed through unchanged. It fails
// when no such Service is in the stream.
func externalNameService(in []byte, name, address string) ([]byte, error) {
	if address == "" {
		address = "127.0.0.1"
	}
	var out []string
	found := false
	for _, doc := range yamlDocSeparator.Split(string(in), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var head struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("decode %q: %w", doc, err)
		}
		if head.Kind == "Service" && head.Metadata.Name == name {
			obj := map[string]any{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				return nil, err
			}
			spec, _ := obj["spec"].(map[string]any)
			if spec == nil {
				return nil, fmt.Errorf("Service %s has no spec", name)
			}
			spec["type"] = "ExternalName"
			spec["externalName"] = address
			for _, k := range []string{"selector", "clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"} {
				delete(spec, k)
			}
			b, err := yaml.Marshal(obj)
			if err != nil {
				return nil, err
			}
			doc, found = "\n"+string(b), true
		}
		out = append(out, doc)
	}
	if !found {
		return nil, fmt.Errorf("no Service %s in the rendered manifests", name)
	}
	return []byte("---" + strings.Join(out, "\n---") + "\n"), nil
}

// serviceProxy is kube-proxy for one Service port: it accepts on a loopback
// port and forwards each connection to one of the ready backends, in turn.
type serviceProxy struct {
	ln net.Listener

	mu       sync.Mutex
	backends []string
	next     int
	// refused counts connections that found no backend.
	refused int
	conns   sync.WaitGroup
}

func startServiceProxy(addr string) (*serviceProxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &serviceProxy{ln: ln}
	go p.serve()
	return p, nil
}

func (p *serviceProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		var backend string
		if len(p.backends) > 0 {
			backend = p.backends[p.next%len(p.backends)]
			p.next++
		} else {
			p.refused++
		}
		p.mu.Unlock()
		if backend == "" {
			c.Close()
			continue
		}
		p.conns.Add(1)
		go func() {
			defer p.conns.Done()
			defer c.Close()
			b, err := net.DialTimeout("tcp", backend, 5*time.Second)
			if err != nil {
				return
			}
			defer b.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(b, c); closeWrite(b); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, b); closeWrite(c); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func (p *serviceProxy) add(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends = append(p.backends, addr)
}

func (p *serviceProxy) remove(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.backends {
		if b == addr {
			p.backends = append(p.backends[:i:i], p.backends[i+1:]...)
			return
		}
	}
}

func (p *serviceProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.backends = nil
	p.mu.Unlock()
}

// runnerPod is one `webhook serve` process started from a pod template.
type runnerPod struct {
	name     string
	template string // hash of the pod template it runs
	webhook  string // loopback address of the webhook port
	health   string // loopback address of the probe port
	logPath  string
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	grace    time.Duration
}

// podRunnerEvent is one thing the runner did, for the test's log.
type podRunnerEvent struct {
	at   time.Time
	what string
}

// podRunner plays the Deployment controller, the kubelet and kube-proxy for
// one Deployment: it polls the Deployment and, for a new pod template,
// starts the new pods one at a time (maxSurge 1), adds each to the proxy
// once its readiness probe answers, then takes one old pod out of the proxy
// and terminates it (maxUnavailable 0); it scales to spec.replicas, and
// when the Deployment is gone, it terminates every pod.
type podRunner struct {
	c     client.Client
	cfg   *rest.Config
	bin   string
	key   client.ObjectKey
	proxy *serviceProxy
	dir   string

	mu      sync.Mutex
	events  []podRunnerEvent
	errs    []error
	pods    []*runnerPod // serving, in the proxy
	stopped []*runnerPod // terminated or terminating
	seq     int
	gone    bool
	synced  string // template hash of the last completed reconcile
	replica int32  // spec.replicas of the last completed reconcile

	cancel context.CancelFunc
	done   chan struct{}
}

// startPodRunner runs the loop until stop. The pods reach the API server at
// cfg's address as their ServiceAccount, with a token the API server issues
// for it (as the kube-api-access volume holds), so the chart's RBAC is what
// they may do.
func startPodRunner(c client.Client, cfg *rest.Config, bin, dir string, key client.ObjectKey, proxy *serviceProxy) *podRunner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &podRunner{c: c, cfg: cfg, bin: bin, key: key, proxy: proxy, dir: dir, cancel: cancel, done: make(chan struct{})}
	go r.loop(ctx)
	return r
}

func (r *podRunner) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, podRunnerEvent{at: time.Now(), what: fmt.Sprintf(format, args...)})
}

func (r *podRunner) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
	r.events = append(r.events, podRunnerEvent{at: time.Now(), what: "ERROR " + err.Error()})
}

func (r *podRunner) loop(ctx context.Context) {
	defer close(r.done)
	seen := false
	for ctx.Err() == nil {
		dep := &appsv1.Deployment{}
		err := r.c.Get(ctx, r.key, dep)
		switch {
		case apierrors.IsNotFound(err) && seen:
			r.mu.Lock()
			wasGone := r.gone
			r.gone = true
			r.mu.Unlock()
			if !wasGone {
				r.logf("Deployment %s is gone: terminating every pod", r.key)
				r.scaleTo(0)
			}
		case err == nil && dep.DeletionTimestamp == nil:
			seen = true
			r.reconcile(ctx, dep)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func templateHash(dep *appsv1.Deployment) string {
	b, _ := json.Marshal(dep.Spec.Template)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

func (r *podRunner) reconcile(ctx context.Context, dep *appsv1.Deployment) {
	hash := templateHash(dep)
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	r.mu.Lock()
	if hash == r.synced && want == r.replica {
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.logf("reconcile: template %s, replicas %d", hash, want)
	for ctx.Err() == nil {
		r.mu.Lock()
		var current, old []*runnerPod
		for _, p := range r.pods {
			if p.template == hash {
				current = append(current, p)
			} else {
				old = append(old, p)
			}
		}
		r.mu.Unlock()
		switch {
		case int32(len(current)) < want:
			// Surge one new pod, then retire one old one.
			p, err := r.startPod(ctx, dep, hash)
			if err != nil {
				r.fail(err)
				return
			}
			r.mu.Lock()
			r.pods = append(r.pods, p)
			r.mu.Unlock()
			r.proxy.add(p.webhook)
			r.logf("pod %s ready, in the Service (webhook %s)", p.name, p.webhook)
			if len(old) > 0 {
				r.terminate(old[0])
			}
		case len(old) > 0:
			r.terminate(old[0])
		case int32(len(current)) > want:
			r.terminate(current[len(current)-1])
		default:
			r.mu.Lock()
			r.synced, r.replica = hash, want
			r.mu.Unlock()
			r.logf("rolled out: template %s, %d ready pods", hash, want)
			return
		}
	}
}

// scaleTo terminates pods until n are left.
func (r *podRunner) scaleTo(n int) {
	for {
		r.mu.Lock()
		if len(r.pods) <= n {
			r.mu.Unlock()
			return
		}
		p := r.pods[len(r.pods)-1]
		r.mu.Unlock()
		r.terminate(p)
	}
}

// terminate takes p out of the Service and sends it SIGTERM, as the
// endpoints controller and the kubelet do at about the same time; the
// kubelet's SIGKILL follows after the grace period.
func (r *podRunner) terminate(p *runnerPod) {
	r.proxy.remove(p.webhook)
	r.mu.Lock()
	for i, q := range r.pods {
		if q == p {
			r.pods = append(r.pods[:i:i], r.pods[i+1:]...)
			break
		}
	}
	r.stopped = append(r.stopped, p)
	r.mu.Unlock()
	r.logf("pod %s out of the Service, SIGTERM", p.name)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		select {
		case <-p.exited:
			r.logf("pod %s exited: %v", p.name, p.exitErr)
		case <-time.After(p.grace):
			_ = p.cmd.Process.Kill()
			<-p.exited
			r.fail(fmt.Errorf("pod %s ignored SIGTERM for its grace period %s and was killed", p.name, p.grace))
		}
	}()
}

// stop ends the loop and terminates every pod, waiting for them to exit.
func (r *podRunner) stop() {
	r.cancel()
	<-r.done
	r.scaleTo(0)
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	for _, p := range stopped {
		select {
		case <-p.exited:
		case <-time.After(p.grace + 5*time.Second):
		}
	}
}

// settled reports whether every terminated pod has exited.
func (r *podRunner) settled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.stopped {
		select {
		case <-p.exited:
		default:
			return false
		}
	}
	return true
}

func (r *podRunner) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

func (r *podRunner) servingPods() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pods)
}

// rolledOut reports whether the last reconcile completed for dep's template
// and replicas.
func (r *podRunner) rolledOut(dep *appsv1.Deployment) bool {
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.synced == templateHash(dep) && r.replica == want && int32(len(r.pods)) == want
}

func (r *podRunner) eventLog() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	start := time.Time{}
	for _, e := range r.events {
		if start.IsZero() {
			start = e.at
		}
		fmt.Fprintf(&b, "  %s +%6.2fs %s\n", e.at.UTC().Format("15:04:05.000"), e.at.Sub(start).Seconds(), e.what)
	}
	return b.String()
}

// logTails returns the last lines of every pod's log.
func (r *podRunner) logTails(n int) string {
	r.mu.Lock()
	all := append(append([]*runnerPod(nil), r.stopped...), r.pods...)
	r.mu.Unlock()
	var b strings.Builder
	for _, p := range all {
		fmt.Fprintf(&b, "--- pod %s (%s):\n%s\n", p.name, p.logPath, core.Tail(p.logPath, n))
	}
	return b.String()
}

// serviceAccountKubeconfig writes a kubeconfig into dir that authenticates
// to cfg's API server as ServiceAccount sa of namespace ns, with a token from
// the TokenRequest API, and returns its path.
func serviceAccountKubeconfig(ctx context.Context, cfg *rest.Config, ns, sa, dir string) (string, error) {
	if sa == "" {
		return "", errors.New("no serviceAccountName")
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3607)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for ServiceAccount %s/%s: %w", ns, sa, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["pod"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: sa, Namespace: ns}
	kc.CurrentContext = "pod"
	path := filepath.Join(dir, "kubeconfig-"+sa)
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", err
	}
	return path, nil
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// probe is an HTTP probe of the kubelet: 2xx or 3xx within its timeout.
func probe(url string) error {
	resp, err := probeClient.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// startPod runs the Deployment's container as the kubelet would (args and
// env as declared, each containerPort on a free loopback port, each volume a
// fresh folder, a Secret volume filled from the Secret in the API server)
// and waits until its readiness probe answers 200.
func (r *podRunner) startPod(ctx context.Context, dep *appsv1.Deployment, hash string) (*runnerPod, error) {
	r.mu.Lock()
	r.seq++
	name := fmt.Sprintf("%s-%s-%d", dep.Name, hash[:6], r.seq)
	r.mu.Unlock()
	spec := dep.Spec.Template.Spec
	c := &spec.Containers[0]
	free, err := core.FreePorts(len(c.Ports))
	if err != nil {
		return nil, err
	}
	ports := map[string]int{}
	byNumber := map[int32]int{}
	for i, p := range c.Ports {
		ports[p.Name] = free[i]
		byNumber[p.ContainerPort] = free[i]
	}
	podDir := filepath.Join(r.dir, name)
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		dir := filepath.Join(podDir, m.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		mounts[m.MountPath] = dir
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			secret := &corev1.Secret{}
			deadline := time.Now().Add(30 * time.Second)
			for {
				err := r.c.Get(ctx, client.ObjectKey{Namespace: dep.Namespace, Name: v.Secret.SecretName}, secret)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					return nil, fmt.Errorf("pod %s: Secret volume %s: %w", name, v.Secret.SecretName, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			for k, data := range secret.Data {
				if err := os.WriteFile(filepath.Join(dir, k), data, 0o400); err != nil {
					return nil, err
				}
			}
		}
	}
	var args []string
	for _, a := range c.Args {
		flag, value, _ := strings.Cut(a, "=")
		switch flag {
		case "--port":
			n, _ := strconv.Atoi(value)
			a = fmt.Sprintf("--port=%d", byNumber[int32(n)])
		case "--metrics-bind-address", "--health-probe-bind-address":
			_, port, err := net.SplitHostPort(value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a, err)
			}
			n, _ := strconv.Atoi(port)
			a = fmt.Sprintf("%s=127.0.0.1:%d", flag, byNumber[int32(n)])
		case "--cert-dir":
			if mounts[value] == "" {
				return nil, fmt.Errorf("%s names no volume mount", a)
			}
			a = flag + "=" + mounts[value]
		}
		args = append(args, a)
	}
	// What a pod would not need: a kubeconfig (no in-cluster config here;
	// it holds the ServiceAccount's token) and the loopback host. The
	// chart's --shutdown-delay stays.
	kubeconfig, err := serviceAccountKubeconfig(ctx, r.cfg, dep.Namespace, spec.ServiceAccountName, podDir)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", name, err)
	}
	args = append(args, "--kubeconfig="+kubeconfig, "--host=127.0.0.1")
	env, err := containerEnv(*c, dep.Namespace)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", name, err)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil {
		return nil, errors.New("the container has no HTTP readiness probe")
	}
	probePort, ok := ports[c.ReadinessProbe.HTTPGet.Port.StrVal]
	if !ok {
		probePort, ok = byNumber[c.ReadinessProbe.HTTPGet.Port.IntVal]
	}
	webhookPort, ok2 := ports["webhook"]
	if !ok || !ok2 {
		return nil, fmt.Errorf("probe port %s or port webhook not among %v", c.ReadinessProbe.HTTPGet.Port.String(), c.Ports)
	}
	logPath := filepath.Join(podDir, "webhook.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(r.bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	grace := 30 * time.Second
	if s := spec.TerminationGracePeriodSeconds; s != nil {
		grace = time.Duration(*s) * time.Second
	}
	p := &runnerPod{
		name: name, template: hash, logPath: logPath, cmd: cmd, exited: make(chan struct{}), grace: grace,
		webhook: net.JoinHostPort("127.0.0.1", strconv.Itoa(webhookPort)),
		health:  net.JoinHostPort("127.0.0.1", strconv.Itoa(probePort)),
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.exitErr = cmd.Wait(); close(p.exited) }()
	r.logf("pod %s started: %s", name, strings.Join(args, " "))
	url := "http://" + p.health + c.ReadinessProbe.HTTPGet.Path
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := probe(url)
		if err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("pod %s exited before it was ready (%v); log:\n%s", name, p.exitErr, core.Tail(logPath, 30))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = cmd.Process.Kill()
			<-p.exited
			return nil, fmt.Errorf("pod %s not ready after 60s: %v; log:\n%s", name, err, core.Tail(logPath, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
