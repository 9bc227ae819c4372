package convert

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshguard/meshguard/internal/golden"
	"github.com/meshguard/meshguard/pkg/check"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml and testdata/*.report.golden (and their .istio. variants) from the results")

// reportSuffix ends the file name of a case's expected report.
const reportSuffix = ".report.golden"

// TestGolden converts each testdata/<case>.in.yaml and compares the objects
// with <case>.golden.yaml (semantically, document by document) and the text
// report with <case>.report.golden (byte for byte); converted --to istio,
// with <case>.istio.golden.yaml and <case>.istio.report.golden. A line
// "# convert: --gateway NAME[.NS] --static-ip NAME=IP" in the input sets
// options.
func TestGolden(t *testing.T) {
	dir := "testdata"
	cases := golden.Cases(t, dir)
	if len(cases) == 0 {
		t.Fatal("no cases in testdata")
	}
	for _, c := range cases {
		for _, target := range Targets() {
			t.Run(c+"/"+string(target), func(t *testing.T) {
				base := filepath.Join(dir, c)
				data, err := os.ReadFile(base + golden.InSuffix)
				if err != nil {
					t.Fatal(err)
				}
				in := &Input{}
				if err := in.Read(base+golden.InSuffix, data); err != nil {
					t.Fatal(err)
				}
				opts := caseOptions(t, data)
				opts.To = target
				res := Convert(in, opts)
				validate(t, res)
				objs := yamlOf(t, res)
				var report bytes.Buffer
				if err := res.Report.Write(&report, FormatText); err != nil {
					t.Fatal(err)
				}
				header := "# " + c + golden.InSuffix + " converted; rewrite with -update, never by hand.\n"
				out, rep := base+golden.GoldenSuffix, base+reportSuffix
				if target == TargetIstio {
					header = "# " + c + golden.InSuffix + " converted --to istio; rewrite with -update, never by hand.\n"
					out, rep = base+istioSuffix+golden.GoldenSuffix, base+istioSuffix+reportSuffix
				}
				if *update {
					write(t, out, header+objs)
					write(t, rep, report.String())
					return
				}
				want := readGolden(t, out)
				if diff := golden.Diff(t, stream(t, want), stream(t, []byte(objs))); diff != "" {
					t.Errorf("the objects differ from %s (-golden +got):\n%s", out, diff)
				}
				if wantReport := readGolden(t, rep); string(wantReport) != report.String() {
					t.Errorf("the report differs from %s:\ngot:\n%s\nwant:\n%s", rep, report.String(), wantReport)
				}
			})
		}
	}
}

// istioSuffix marks the golden files of the istio target:
// <case>.istio.golden.yaml and <case>.istio.report.golden.
const istioSuffix = ".istio"

func caseOptions(t *testing.T, data []byte) Options {
	var o Options
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		args, ok := strings.CutPrefix(sc.Text(), "# convert:")
		if !ok {
			continue
		}
		f := strings.Fields(args)
		for i := 0; i+1 < len(f); i += 2 {
			switch f[i] {
			case "--gateway":
				o.GatewayName = f[i+1]
				if n, ns, ok := strings.Cut(f[i+1], "."); ok {
					o.GatewayName, o.GatewayNamespace = n, ns
				}
			case "--static-ip":
				n, ip, _ := strings.Cut(f[i+1], "=")
				if o.StaticIPs == nil {
					o.StaticIPs = map[string]string{}
				}
				o.StaticIPs[n] = ip
			default:
				t.Fatalf("unknown option %q in # convert:", f[i])
			}
		}
	}
	return o
}

// stream turns a YAML stream into one JSON array, so golden.Diff compares
// every document.
func stream(t *testing.T, data []byte) []byte {
	t.Helper()
	f := check.Parse(check.Input{Name: "output.yaml", Data: data})
	if len(f.Errors) > 0 {
		t.Fatal(f.Errors[0])
	}
	var all []any
	for _, o := range f.Objects {
		var v any
		if err := json.Unmarshal(o.JSON(), &v); err != nil {
			t.Fatal(err)
		}
		if v != nil {
			all = append(all, v)
		}
	}
	b, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readGolden(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Fatalf("%s is missing: run the test with -update and review the new file", path)
	} else if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
