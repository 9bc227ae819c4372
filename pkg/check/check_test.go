package check

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// inputs reads fixtures from testdata/inputs, named relative to it.
func inputs(t testing.TB, paths ...string) []*File {
	t.Helper()
	var full []string
	for _, p := range paths {
		full = append(full, filepath.Join("testdata", "inputs", p))
	}
	ins, err := ReadPaths(full, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := make([]*File, len(ins))
	for i, in := range ins {
		in.Name = strings.TrimPrefix(filepath.ToSlash(in.Name), "testdata/inputs/")
		files[i] = Parse(in)
	}
	return files
}

func run(t testing.TB, o Options, paths ...string) *Report {
	t.Helper()
	if o.Rules == nil {
		o.Rules = testRules
	}
	o.AllowExemptions = !o.AllowExemptions // the zero value of a test case is the server's default
	return Run(context.Background(), inputs(t, paths...), o)
}

// brief lists findings as "file:line [rule] severity", the part tests pin.
func brief(r *Report) []string {
	var out []string
	for _, f := range r.Findings() {
		s := fmt.Sprintf("%s:%d [%s] %s", f.File, f.Line, f.Rule, f.Severity)
		if f.Fixed {
			s += " fixed"
		}
		out = append(out, s)
	}
	return out
}

func TestFindings(t *testing.T) {
	meshed := map[string]string{"istio-injection": "enabled"}
	tests := map[string]struct {
		paths []string
		opts  Options
		want  []string
		exit  int
	}{
		"a folder is read recursively, skipping hidden folders and files that are not manifests": {
			paths: []string{"mesh"},
			want: []string{
				"mesh/ingresses.yaml:1 [ingress-in-mesh] deny",
				"mesh/ingresses.yaml:28 [ingress-in-mesh] warn",
				"mesh/ingresses.yaml:41 [ingress-in-mesh] deny",
				"mesh/ingresses.yaml:54 [ingress-in-mesh] deny",
				"mesh/ingresses.yaml:54 [unknown-ingressclass] warn",
				"mesh/ingresses.yaml:67 [unknown-namespace] deny",
				"mesh/ingresses.yaml:79 [unknown-namespace] deny",
				"mesh/ingresses.yaml:105 [ingress-in-mesh] deny",
				"mesh/nested/configmaps.yml:1 [nginx-http11] change",
				"mesh/nested/configmaps.yml:23 [unknown-namespace] deny",
			},
			exit: ExitFindings,
		},
		"flags put namespaces in or out of the mesh, and win over the input": {
			paths: []string{"mesh/ingresses.yaml", "mesh/namespaces.yaml"},
			opts: Options{Namespaces: map[string]map[string]string{
				"nowhere": meshed, "default": {}, "shop": {"istio-injection": "disabled"},
			}},
			want: []string{
				"mesh/ingresses.yaml:41 [ingress-in-mesh] deny",
				"mesh/ingresses.yaml:67 [ingress-in-mesh] deny",
			},
			exit: ExitFindings,
		},
		"objects without a namespace land in --namespace": {
			paths: []string{"mesh/ingresses.yaml", "mesh/namespaces.yaml"},
			opts:  Options{DefaultNamespace: "legacy", Off: []string{"ingress-in-mesh"}},
			want:  nil,
			exit:  ExitClean,
		},
		"a rule turned off is not evaluated, and needs no namespace": {
			paths: []string{"mesh/ingresses.yaml"},
			opts:  Options{Off: []string{"ingress-in-mesh"}},
			exit:  ExitClean,
		},
		"List items are checked one by one, each at its own line": {
			paths: []string{"list.yaml", "mesh/namespaces.yaml"},
			want:  []string{"list.yaml:11 [ingress-in-mesh] deny"},
			exit:  ExitFindings,
		},
		"items of a typed list take their kind from the list": {
			paths: []string{"typed-list.json", "mesh/namespaces.yaml"},
			want:  []string{"typed-list.json:5 [ingress-in-mesh] deny"},
			exit:  ExitFindings,
		},
		"helm template output: empty documents are skipped": {
			paths: []string{"helm.yaml", "mesh/namespaces.yaml"},
			want:  []string{"helm.yaml:13 [ingress-in-mesh] deny"},
			exit:  ExitFindings,
		},
		"kinds no rule handles are read and left alone, whatever their fields": {
			paths: []string{"custom.yaml"},
			exit:  ExitClean,
		},
		"only warnings exit 0": {
			paths: []string{"mesh/namespaces.yaml", "mesh/other.json"},
			opts:  Options{Namespaces: map[string]map[string]string{"nowhere": meshed}},
			exit:  ExitClean,
		},
		"changes --fix wrote do not fail": {
			paths: []string{"mesh/nested/configmaps.yml", "mesh/namespaces.yaml"},
			opts:  Options{Fix: true, Namespaces: map[string]map[string]string{"nowhere": {}}},
			want:  []string{"mesh/nested/configmaps.yml:1 [nginx-http11] change fixed"},
			exit:  ExitClean,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := run(t, tc.opts, tc.paths...)
			if errs := r.Errors(); len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if got := brief(r); !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if got := r.ExitCode(); got != tc.exit {
				t.Errorf("exit code %d, want %d", got, tc.exit)
			}
		})
	}
}

func TestMessages(t *testing.T) {
	r := run(t, Options{}, "mesh", "helm.yaml")
	tests := map[string]struct{ file, name, rule, want string }{
		"an unknown namespace says how to make it known and which rule needed it": {
			"mesh/ingresses.yaml", "nowhere", UnknownNamespaceRule,
			`namespace "nowhere" is unknown: pass --mesh-namespace or --namespace-labels, or include the Namespace in the input; ingress-in-mesh needs its labels to decide whether the namespace is in the mesh`},
		"an nginx ConfigMap in an unknown namespace is reported too": {
			"mesh/nested/configmaps.yml", "proxy", UnknownNamespaceRule, `namespace "nowhere" is unknown`},
		"an exemption without a reason says why it is not granted": {
			"mesh/ingresses.yaml", "exempt-no-reason", "ingress-in-mesh",
			"(the object asks for an exemption from ingress-in-mesh, but it is not granted without a reason: set a non-empty meshguard.dev/exempt-reason annotation)"},
		"an IngressClass missing from the input is named": {
			"mesh/ingresses.yaml", "missing-class", UnknownIngressClassRule, `IngressClass "missing" is not in the input`},
		"the global static IP note comes with the denial": {
			"mesh/ingresses.yaml", "gce-static-ip", "ingress-in-mesh", `note that the global static IP "shop-ip"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, f := range r.Findings() {
				if f.File == tc.file && f.Name == tc.name && f.Rule == tc.rule {
					if !strings.Contains(f.Message, tc.want) {
						t.Errorf("message %q lacks %q", f.Message, tc.want)
					}
					return
				}
			}
			t.Errorf("no %s finding for %s in %s", tc.rule, tc.name, tc.file)
		})
	}
	var sources []string
	for _, f := range r.Findings() {
		if f.Source != "" {
			sources = append(sources, f.Source)
		}
	}
	if !slices.Equal(sources, []string{"shop/templates/ingress.yaml"}) {
		t.Errorf("helm sources = %q", sources)
	}
}

func TestExemptionsCanBeTurnedOff(t *testing.T) {
	r := run(t, Options{AllowExemptions: true}, "mesh/ingresses.yaml", "mesh/namespaces.yaml")
	for _, f := range r.Findings() {
		if f.Name == "exempt" {
			if !strings.Contains(f.Message, "exemptions are turned off on this cluster") {
				t.Errorf("message %q does not say exemptions are off", f.Message)
			}
			return
		}
	}
	t.Error("the exempt Ingress is not denied with exemptions off")
}

func TestBadInput(t *testing.T) {
	r := run(t, Options{}, "bad")
	var got []string
	for _, e := range r.Errors() {
		got = append(got, e.Error())
	}
	want := []string{
		"bad/broken.json: document 0 (line 1): invalid JSON: unexpected EOF",
		"bad/invalid.yaml: document 1 (line 6): invalid YAML: yaml: line 9: did not find expected key",
		`bad/list-item.yaml: document 0, item 1 (line 8): the object has no apiVersion or no kind (apiVersion "", kind ""); every Kubernetes object needs both`,
		`bad/nokind.yaml: document 1 (line 7): the object has no apiVersion or no kind (apiVersion "v1", kind ""); every Kubernetes object needs both`,
		"bad/null-item.yaml: document 0, item 0 (line 4): the item is empty, not a mapping, so not a Kubernetes object",
		"bad/scalar.yaml: document 0 (line 1): the document is not a mapping, so not a Kubernetes object; every document needs apiVersion, kind and metadata",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var names []string
	for _, f := range r.Files {
		for _, o := range f.Objects {
			names = append(names, f.Name+":"+o.Name)
		}
	}
	// The readable documents of a file with a bad one are still checked.
	if want := []string{"bad/invalid.yaml:fine", "bad/list-item.yaml:fine", "bad/nokind.yaml:fine"}; !slices.Equal(names, want) {
		t.Errorf("checked objects %q, want %q", names, want)
	}
	if r.ExitCode() != ExitError {
		t.Errorf("exit code %d, want %d", r.ExitCode(), ExitError)
	}
}

func TestLimitsAndPaths(t *testing.T) {
	huge := bytes.Repeat([]byte("# padding\n"), MaxFileBytes/10+1)
	if f := Parse(Input{Name: "huge.yaml", Data: huge}); len(f.Errors) != 1 || !strings.Contains(f.Errors[0].Error(), "huge.yaml: the file is larger than 32 MiB") {
		t.Errorf("a huge file gives %v", f.Errors)
	}
	if _, err := ReadPaths([]string{"-"}, bytes.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "<stdin>: the file is larger than 32 MiB") {
		t.Errorf("huge stdin gives %v", err)
	}
	for path, want := range map[string]string{
		"testdata/inputs/none":  "-f testdata/inputs/none: no such file or directory",
		"testdata/inputs/empty": "holds no *.yaml, *.yml or *.json files",
	} {
		if _, err := ReadPaths([]string{path}, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadPaths(%s) = %v, want %q", path, err, want)
		}
	}
	ins, err := ReadPaths([]string{"-"}, strings.NewReader("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"))
	if err != nil || len(ins) != 1 || ins[0].Name != StdinName || ins[0].Path != "" {
		t.Errorf("stdin gives %+v, %v", ins, err)
	}
}
