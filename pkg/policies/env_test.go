package policies

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/meshguard/meshguard/internal/testenv"
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; keep it quiet.
	log.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// istioCRDs finds the Istio CRDs of the istio.io/api version that
// internal/harness pins, as harness.IstioCRDPath does (that module cannot
// be imported from this one), without downloading: "" when the module
// cache lacks them.
func istioCRDs(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// internal/harness pins istio.io/api; `go mod download -json` prints its
	// directory, fetching it from the module proxy when the cache lacks it.
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "istio.io/api")
	cmd.Dir = filepath.Join("..", "..", "internal", "harness")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout = &out
	var mod struct{ Dir string }
	err := cmd.Run()
	if err == nil {
		err = json.Unmarshal(out.Bytes(), &mod)
	}
	file := filepath.Join(mod.Dir, "kubernetes", "customresourcedefinitions.gen.yaml")
	if err == nil {
		_, err = os.Stat(file)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Istio's CRDs (istio.io/api of internal/harness): %v", err)
		}
		t.Logf("\n!!! Istio's CRDs are not available (%v): the ServiceEntry cases run against a schemaless CRD, so Istio's schema, pruning and CEL rules are NOT applied", err)
		return ""
	}
	return file
}

// warnings collects the API server's warnings.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings since the last call.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// env is a control plane with the ServiceEntry CRD (Istio's own, with its
// schema and CEL validations, when available) and a client whose warnings
// are collected.
type env struct {
	c        client.Client
	warnings *warnings
	// istioCRD tells whether Istio's CRDs (structural, pruning) are installed.
	istioCRD bool
}

func start(t *testing.T) *env {
	t.Helper()
	cfg, _ := testenv.Start(t, "the compiled admission policies")
	crds := istioCRDs(t)
	e := &env{warnings: &warnings{}, istioCRD: crds != ""}
	if crds == "" {
		crds = filepath.Join("testdata", "serviceentry-crd.yaml")
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crds}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing %s: %v", crds, err)
	}
	wcfg := rest.CopyConfig(cfg)
	wcfg.WarningHandler = e.warnings
	c, err := client.New(wcfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	e.namespace(t, meshguardNS, nil)
	// Discovery learns the new kinds a moment after they are established.
	gk := schema.GroupKind{Group: "networking.istio.io", Kind: "ServiceEntry"}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := c.RESTMapper().RESTMapping(gk, "v1alpha3"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("ServiceEntry is not served: %v", err)
		}
	}
	return e
}

// namespace creates a namespace with labels.
func (e *env) namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := e.c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

// install creates the compiled objects.
func (e *env) install(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, u := range objs {
		if err := e.c.Create(context.Background(), u.DeepCopy()); err != nil {
			t.Fatalf("the API server refuses the %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// policyMessage strips the API server's prefix from a warning or denial
// of an admission policy ("Validation failed for ValidatingAdmissionPolicy
// 'P' with binding 'B': MSG"); ok is false for other text.
func policyMessage(s string) (string, bool) {
	_, rest, ok := strings.Cut(s, "with binding '")
	if !ok {
		return "", false
	}
	_, msg, ok := strings.Cut(rest, "': ")
	return msg, ok
}
