package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshguard/meshguard/test/e2e/harness"
)

// warningClient returns a client on cfg whose warnings are recorded.
func warningClient(t *testing.T, cfg *rest.Config) (client.Client, *harness.Warnings) {
	t.Helper()
	rec := &harness.Warnings{}
	c, err := client.New(rec.Config(cfg), client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c, rec
}

// storyPath is the path of a manifest of examples/story.
func storyPath(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(harness.RepoRoot(t), "examples", "story", name)
}

// readStory decodes a manifest of examples/story into obj and moves it to
// namespace ns.
func readStory(t *testing.T, name, ns string, obj client.Object) {
	t.Helper()
	data, err := os.ReadFile(storyPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	obj.SetNamespace(ns)
}

// storyIngress is examples/story/ingress.yaml (class gce, global static IP
// gad-my-app) in namespace ns.
func storyIngress(t *testing.T, ns string) *networkingv1.Ingress {
	t.Helper()
	ing := &networkingv1.Ingress{}
	readStory(t, "ingress.yaml", ns, ing)
	return ing
}

// storyConfigMap is examples/story/nginx-configmap.yaml in namespace ns.
func storyConfigMap(t *testing.T, ns string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{}
	readStory(t, "nginx-configmap.yaml", ns, cm)
	return cm
}

// storyServiceEntry is examples/story/serviceentry.yaml (v1alpha3, with the
// metadata IP among the hosts) in namespace ns, rewritten to version.
func storyServiceEntry(t *testing.T, ns, version string) *unstructured.Unstructured {
	t.Helper()
	se := &unstructured.Unstructured{}
	readStory(t, "serviceentry.yaml", ns, se)
	se.SetAPIVersion("networking.istio.io/" + version)
	return se
}

// fixedConfigMapValue returns the value of key in the ConfigMap that
// `webhook check --fix` writes for the story's nginx ConfigMap in a meshed
// namespace: the source-side counterpart of the webhook's mutation.
func fixedConfigMapValue(t *testing.T, bin, key string) string {
	t.Helper()
	src, err := os.ReadFile(storyPath(t, "nginx-configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "nginx-configmap.yaml")
	if err := os.WriteFile(in, src, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "check", "-f", in, "--mesh-namespace", "my-app", "--fix").Output()
	if err != nil {
		t.Fatalf("webhook check --fix: %v\n%s", err, out)
	}
	cm := &corev1.ConfigMap{}
	if err := yaml.Unmarshal(out, cm); err != nil {
		t.Fatalf("webhook check --fix output: %v\n%s", err, out)
	}
	return cm.Data[key]
}

// createNamespace creates a namespace with the given labels and returns its
// generated name.
func createNamespace(t *testing.T, c client.Client, prefix string, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: labels}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// waitForEvent waits for an events.k8s.io Event about obj with reason and
// a note starting with prefix, and checks it names obj by UID, so that
// `kubectl describe` lists it (validating admission sees the UID the API
// server gives a new object).
func waitForEvent(t *testing.T, c client.Client, obj client.Object, reason, prefix string) {
	t.Helper()
	stored := obj.DeepCopyObject().(client.Object)
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), stored); err != nil {
		t.Fatalf("read back: %v", err)
	}
	harness.WaitFor(t, admissionWait, "a "+reason+" Event on "+obj.GetName(), func() error {
		list := &eventsv1.EventList{}
		if err := c.List(context.Background(), list, client.InNamespace(obj.GetNamespace())); err != nil {
			return err
		}
		var seen []string
		for _, ev := range list.Items {
			seen = append(seen, ev.Reason+" "+ev.Regarding.Name+": "+ev.Note)
			if ev.Reason == reason && ev.Regarding.Name == obj.GetName() && strings.HasPrefix(ev.Note, prefix) {
				if ev.Regarding.UID != stored.GetUID() || ev.Type != "Warning" || ev.ReportingController != "meshguard" {
					t.Errorf("Event %+v: want type Warning, controller meshguard and the object's UID %s", ev, stored.GetUID())
				}
				return nil
			}
		}
		return fmt.Errorf("events in %s: %q", obj.GetNamespace(), seen)
	})
}
