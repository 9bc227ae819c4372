package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/internal/testcert"
	"github.com/meshguard/meshguard/test/e2e/harness"
)

// chartObjects are the rendered objects the pod-spec test reads.
type chartObjects struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	// apply are the objects a self-managed certificate needs in the
	// cluster: its empty Secret and the webhook configurations it injects
	// its CA into.
	apply []client.Object
}

// TestChartPodSpecRuns executes what the chart's Deployment says: for the
// default values (self-managed certificates), audit mode with a provided
// certificate, and cert-manager mode, it takes the container's args, env,
// ports and probes and runs `webhook serve` with exactly those (paths mapped
// to temporary folders, the downward-API env filled in, ports moved to free
// loopback ports after checking that they line up, --kubeconfig added since
// no in-cluster config exists here). The process must start, answer both
// probes on the probe port, and answer a review on the port the Service
// targets. The pod template must also pass the API server's own PodSecurity
// admission at the restricted level.
func TestChartPodSpecRuns(t *testing.T) {
	requireWebhook(t)
	bin := harness.BuildWebhook(t)
	cp := harness.StartControlPlane(t)
	ctx := context.Background()
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: harness.ChartReleaseNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	meshedNS := createNamespace(t, cp.Client, "podspec", meshed)
	provided, err := testcert.New(testcert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		values  string
		certs   bool // the certificate comes as mounted files
		allowed bool
	}{
		"default values (self-managed certificates, enforce)": {},
		"audit mode with a provided certificate": {
			values: "mode: audit\ncertificates: {mode: provided, provided: {secretName: serving, caBundle: " + strconv.Quote(string(provided.CA.PEM)) + "}}",
			certs:  true, allowed: true,
		},
		"cert-manager mode": {values: "certificates: {mode: cert-manager}", certs: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.values), &vals); err != nil {
				t.Fatal(err)
			}
			objs := decodeChart(t, harness.RenderChartDocs(t, vals))
			checkPodSecurity(t, cp.Config, cp.Client, objs.deployment)
			for _, o := range objs.apply {
				if tc.certs {
					break
				}
				if err := cp.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatalf("create %T %s: %v", o, o.GetName(), err)
				}
			}
			run := startFromPodSpec(t, bin, cp.Kubeconfig, objs, tc.certs, provided)
			for _, probe := range []*corev1.Probe{run.container.LivenessProbe, run.container.ReadinessProbe} {
				url := "http://" + run.addr(t, probe.HTTPGet.Port) + probe.HTTPGet.Path
				harness.WaitFor(t, 60*time.Second, "probe "+url+" answers 200", func() error { return get200(url) })
			}
			ca := provided.CA.PEM
			serverName := "localhost"
			if !tc.certs {
				ca, serverName = injectedCA(t, cp.Client, objs), run.serviceDNS
			}
			resp := postReview(t, "https://"+run.addr(t, objs.service.Spec.Ports[0].TargetPort)+"/validate", serverName, ca, meshedNS)
			if resp.Allowed != tc.allowed || !strings.Contains(fmt.Sprint(resp.Result, resp.Warnings), "[ingress-in-mesh]") {
				t.Errorf("review of the story's Ingress: allowed %v (want %v), result %+v, warnings %q", resp.Allowed, tc.allowed, resp.Result, resp.Warnings)
			}
		})
	}
}

func decodeChart(t *testing.T, docs []string) chartObjects {
	t.Helper()
	var out chartObjects
	for _, file := range docs {
		for doc := range strings.SplitSeq(file, "\n---") {
			var head struct{ Kind string }
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatal(err)
			}
			var obj client.Object
			switch head.Kind {
			case "Deployment":
				out.deployment = &appsv1.Deployment{}
				obj = out.deployment
			case "Service":
				out.service = &corev1.Service{}
				obj = out.service
			case "Secret":
				obj = &corev1.Secret{}
				out.apply = append(out.apply, obj)
			case "ValidatingWebhookConfiguration":
				obj = &admissionregistrationv1.ValidatingWebhookConfiguration{}
				out.apply = append(out.apply, obj)
			case "MutatingWebhookConfiguration":
				obj = &admissionregistrationv1.MutatingWebhookConfiguration{}
				out.apply = append(out.apply, obj)
			default:
				continue
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: %v", head.Kind, err)
			}
		}
	}
	if out.deployment == nil || out.service == nil {
		t.Fatal("the chart renders no Deployment or no Service")
	}
	return out
}

// podRun is a `webhook serve` started from the chart's pod spec.
type podRun struct {
	container *corev1.Container
	// ports maps each containerPort to the loopback port it runs on.
	ports      map[int32]int
	serviceDNS string
}

// addr resolves a port as the kubelet would (a number, or a container
// port's name) to the loopback address it runs on.
func (r *podRun) addr(t *testing.T, p intstr.IntOrString) string {
	t.Helper()
	n := p.IntVal
	if p.Type == intstr.String {
		for _, cp := range r.container.Ports {
			if cp.Name == p.StrVal {
				n = cp.ContainerPort
			}
		}
	}
	local, ok := r.ports[n]
	if !ok {
		t.Fatalf("port %s is none of the container's ports %v", p.String(), r.container.Ports)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(local))
}

// startFromPodSpec runs bin with the webhook container's args and env.
// Every bind address in the args must name a declared containerPort; each
// is moved to a free loopback port.
func startFromPodSpec(t *testing.T, bin, kubeconfig string, objs chartObjects, certs bool, pair *testcert.Pair) *podRun {
	t.Helper()
	pod := objs.deployment.Spec.Template.Spec
	c := &pod.Containers[0]
	run := &podRun{container: c, ports: map[int32]int{}}
	free, err := harness.FreePorts(len(c.Ports))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range c.Ports {
		run.ports[p.ContainerPort] = free[i]
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = t.TempDir()
		if m.Name == "certs" && certs {
			if err := pair.Write(mounts[m.MountPath]); err != nil {
				t.Fatal(err)
			}
		}
	}
	bound := map[int32]bool{}
	var args []string
	for _, a := range c.Args {
		name, value, _ := strings.Cut(a, "=")
		switch name {
		case "--port":
			n, _ := strconv.Atoi(value)
			bound[int32(n)] = true
			a = fmt.Sprintf("--port=%d", run.mustPort(t, int32(n)))
		case "--metrics-bind-address", "--health-probe-bind-address":
			_, port, err := net.SplitHostPort(value)
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			n, _ := strconv.Atoi(port)
			bound[int32(n)] = true
			a = fmt.Sprintf("%s=127.0.0.1:%d", name, run.mustPort(t, int32(n)))
		case "--cert-dir":
			if mounts[value] == "" {
				t.Fatalf("%s names no volume mount", a)
			}
			a = name + "=" + mounts[value]
		case "--webhook-service":
			run.serviceDNS = value
		}
		args = append(args, a)
	}
	// Last, so they win: the kubeconfig a pod would not need, the loopback
	// host, and no drain delay for the test's stop.
	args = append(args, "--kubeconfig="+kubeconfig, "--host=127.0.0.1", "--shutdown-delay=0s")
	for _, p := range c.Ports {
		if !bound[p.ContainerPort] {
			t.Errorf("containerPort %s %d is bound by no argument", p.Name, p.ContainerPort)
		}
	}
	if tp := objs.service.Spec.Ports[0].TargetPort; tp.String() != "webhook" {
		t.Errorf("the Service's first port targets %s, want the container port webhook", tp.String())
	}
	env, err := containerEnv(*c, harness.ChartReleaseNamespace)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "webhook.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("webhook %v", args)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("last lines of the webhook's log:\n%s", harness.Tail(logPath, 20))
		}
	})
	return run
}

func (r *podRun) mustPort(t *testing.T, n int32) int {
	t.Helper()
	local, ok := r.ports[n]
	if !ok {
		t.Fatalf("an argument binds port %d, which no containerPort declares", n)
	}
	return local
}

func get200(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

// injectedCA is the caBundle the self-managed certificate put into the
// chart's ValidatingWebhookConfiguration.
func injectedCA(t *testing.T, c client.Client, objs chartObjects) []byte {
	t.Helper()
	for _, o := range objs.apply {
		if v, ok := o.(*admissionregistrationv1.ValidatingWebhookConfiguration); ok {
			back := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(v), back); err != nil {
				t.Fatal(err)
			}
			return back.Webhooks[0].ClientConfig.CABundle
		}
	}
	t.Fatal("no ValidatingWebhookConfiguration rendered")
	return nil
}

// postReview sends the story's Ingress in namespace ns for review.
func postReview(t *testing.T, url, serverName string, caPEM []byte, ns string) *admissionv1.AdmissionResponse {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no CA certificate in %q", caPEM)
	}
	obj, err := json.Marshal(storyIngress(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	review, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "podspec", Operation: admissionv1.Create, Namespace: ns, Name: "my-app",
			Kind:     metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
			Resource: metav1.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
			Object:   runtime.RawExtension{Raw: obj},
		},
	})
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName}}}
	var out admissionv1.AdmissionReview
	harness.WaitFor(t, 60*time.Second, "a review answered on the Service's target port", func() error {
		resp, err := hc.Post(url, "application/json", bytes.NewReader(review))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %s", resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(&out)
	})
	if out.Response == nil {
		t.Fatal("no response in the review")
	}
	return out.Response
}

// checkPodSecurity has the API server judge the Deployment's pod template
// at PodSecurity level restricted: a Pod from it is created (dry run) in
// an enforcing namespace, and the Deployment applied there draws no
// warning.
func checkPodSecurity(t *testing.T, cfg *rest.Config, admin client.Client, dep *appsv1.Deployment) {
	t.Helper()
	ctx := context.Background()
	ns := createNamespace(t, admin, "restricted", map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted",
	})
	c, rec := warningClient(t, cfg)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "webhook", Namespace: ns}, Spec: dep.Spec.Template.Spec}
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("PodSecurity restricted refuses the chart's pod: %v", err)
	}
	d := dep.DeepCopy()
	d.Namespace, d.ResourceVersion = ns, ""
	if err := c.Create(ctx, d, client.DryRunAll); err != nil {
		t.Errorf("create the chart's Deployment: %v", err)
	}
	if got := rec.Take(); len(got) != 0 {
		t.Errorf("PodSecurity warnings: %q", got)
	}
	// The control: the API server does enforce the level here.
	root := pod.DeepCopy()
	root.Spec.SecurityContext = nil
	root.Spec.Containers[0].SecurityContext = nil
	if err := c.Create(ctx, root, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Errorf("a pod without the chart's security contexts was not refused by PodSecurity: %v", err)
	}
}

// containerEnv is this process's environment plus the container's, the
// downward API filled in as the kubelet would for a pod in namespace.
func containerEnv(c corev1.Container, namespace string) ([]string, error) {
	env := os.Environ()
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env = append(env, e.Name+"="+namespace)
		case e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			limit := c.Resources.Limits[corev1.ResourceMemory]
			env = append(env, fmt.Sprintf("%s=%d", e.Name, limit.Value()))
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		default:
			return nil, fmt.Errorf("env %s: a source this runner does not fill in", e.Name)
		}
	}
	return env, nil
}
