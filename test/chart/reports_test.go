package chart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// reportCRDNames are the CRDs in files/crds.
var reportCRDNames = []string{
	"clusterpolicyreports.wgpolicyk8s.io", "clusterreports.openreports.io",
	"policyreports.wgpolicyk8s.io", "reports.openreports.io",
}

// TestPolicyReportsByDefault: the audit writes policy reports owned by the
// ValidatingWebhookConfiguration, with exactly the rights that needs; off,
// neither flag nor rights remain.
func TestPolicyReportsByDefault(t *testing.T) {
	m := render(t, nil)
	args := m.args(t)
	if args["--policy-reports"] == nil || args["--policy-report-interval"][0] != "10s" || args["--policy-reports-owner"][0] != m.Validating.Name {
		t.Errorf("args %v, want --policy-reports, --policy-report-interval=10s and --policy-reports-owner=%s", args, m.Validating.Name)
	}
	audit := clusterRole(m.ClusterRoles, fullname+"-audit")
	if audit == nil {
		t.Fatal("no audit ClusterRole")
	}
	want := map[string][]string{"wgpolicyk8s.io": {"policyreports", "clusterpolicyreports"}, "openreports.io": {"reports", "clusterreports"}}
	for group, resources := range want {
		if !grants(audit.Rules, group, resources, "", "create", "update", "delete", "get", "list") {
			t.Errorf("the audit role cannot write %s %v: %+v", group, resources, audit.Rules)
		}
	}
	if !grants(audit.Rules, "admissionregistration.k8s.io", []string{"validatingwebhookconfigurations"}, m.Validating.Name, "get") {
		t.Errorf("the audit role cannot read its owner, ValidatingWebhookConfiguration %s", m.Validating.Name)
	}
	if len(m.Custom["CustomResourceDefinition"]) != 0 {
		t.Error("the chart installs CRDs by default")
	}

	for _, bad := range []string{"0s", "0m0s", "10", "soon"} {
		if _, err := renderErr(t, values(t, "audit: {policyReports: {interval: \""+bad+"\"}}")); err == nil {
			t.Errorf("policyReports.interval %q renders; the webhook would refuse to start", bad)
		}
	}
	off := render(t, values(t, "audit: {policyReports: {enabled: false}}"))
	if a := off.args(t); a["--policy-reports"] != nil || a["--policy-reports-owner"] != nil {
		t.Errorf("policyReports.enabled=false still passes %v", a)
	}
	for _, r := range clusterRole(off.ClusterRoles, fullname+"-audit").Rules {
		if slices.Contains(r.APIGroups, "wgpolicyk8s.io") || slices.Contains(r.APIGroups, "admissionregistration.k8s.io") {
			t.Errorf("policyReports.enabled=false still grants %+v", r)
		}
	}
}

// TestReportCRDsInstallOnlyWhenAbsent: installCRDs renders the four CRDs,
// skips one another tool installed, and keeps rendering the ones this
// release installed (or an upgrade would delete them).
func TestReportCRDsInstallOnlyWhenAbsent(t *testing.T) {
	vals := values(t, "audit: {policyReports: {installCRDs: true}}")
	crds := func(m *manifests) []string {
		var names []string
		for _, c := range m.Custom["CustomResourceDefinition"] {
			meta := c["metadata"].(map[string]any)
			if meta["annotations"].(map[string]any)["helm.sh/resource-policy"] != "keep" {
				t.Errorf("CRD %s is not kept on uninstall", meta["name"])
			}
			names = append(names, meta["name"].(string))
		}
		slices.Sort(names)
		return names
	}
	if got := crds(render(t, vals)); !slices.Equal(got, reportCRDNames) {
		t.Errorf("installCRDs renders %v, want %v", got, reportCRDNames)
	}
	live := []runtime.Object{
		crdObject("policyreports.wgpolicyk8s.io", "kyverno"),
		crdObject("reports.openreports.io", releaseName),
	}
	m, err := renderLive(t, vals, crdProvider{dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), live...)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"clusterpolicyreports.wgpolicyk8s.io", "clusterreports.openreports.io", "reports.openreports.io"}
	if got := crds(m); !slices.Equal(got, want) {
		t.Errorf("with Kyverno's PolicyReport CRD and our Report CRD installed, the chart renders %v, want %v", got, want)
	}
}

// TestReportCRDsMatchTheirSources: files/crds are still the files
// hack/update-report-crds.sh copies from the pinned Go modules.
func TestReportCRDsMatchTheirSources(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", "hack", "update-report-crds.sh"))
	if err != nil {
		t.Fatal(err)
	}
	sources := regexp.MustCompile(`"(\S+@\S+) (\S+\.yaml)"`).FindAllStringSubmatch(string(script), -1)
	if len(sources) != len(reportCRDNames) {
		t.Fatalf("hack/update-report-crds.sh names %d sources, want %d", len(sources), len(reportCRDNames))
	}
	dirs := map[string]string{}
	for _, s := range sources {
		mod, path := s[1], s[2]
		if dirs[mod] == "" {
			dirs[mod] = moduleDir(t, mod)
		}
		want, err := os.ReadFile(filepath.Join(dirs[mod], path))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, "files", "crds", filepath.Base(path)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("files/crds/%s differs from %s in %s: run hack/update-report-crds.sh", filepath.Base(path), path, mod)
		}
	}
}

// moduleDir downloads mod (module@version) from the Go module proxy into
// the module cache and returns its directory.
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", mod, err, out)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", mod, err, info.Error)
	}
	return info.Dir
}

func grants(rules []rbacv1.PolicyRule, group string, resources []string, name string, verbs ...string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && !slices.ContainsFunc(resources, func(s string) bool { return !slices.Contains(r.Resources, s) }) &&
			!slices.ContainsFunc(verbs, func(v string) bool { return !slices.Contains(r.Verbs, v) }) &&
			(name == "" && len(r.ResourceNames) == 0 || name != "" && slices.Equal(r.ResourceNames, []string{name})) {
			return true
		}
	}
	return false
}

func crdObject(name, release string) runtime.Object {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("apiextensions.k8s.io/v1")
	u.SetKind("CustomResourceDefinition")
	u.SetName(name)
	u.SetAnnotations(map[string]string{"meta.helm.sh/release-name": release})
	return u
}

// crdProvider answers the chart's lookups of CRDs and of Secrets.
type crdProvider struct {
	client *dynamicfake.FakeDynamicClient
}

func (p crdProvider) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	switch {
	case apiVersion == "apiextensions.k8s.io/v1" && kind == "CustomResourceDefinition":
		return p.client.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}), false, nil
	case apiVersion == "v1" && kind == "Secret":
		return p.client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}), true, nil
	}
	return nil, false, fmt.Errorf("unexpected lookup of %s %s", apiVersion, kind)
}
