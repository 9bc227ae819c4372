package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// testVersion is stamped into the test builds; `webhook version` must print it.
const testVersion = "v0.0.0-imagetest"

// TestImage cross-compiles the webhook once per platform, with the flags
// make image uses, and checks the images assembled around those binaries.
// Everything below shares the two builds, which are most of its time.
func TestImage(t *testing.T) {
	ctx := t.Context()
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Version:    testVersion,
		Revision:   gitRevision(ctx, src),
		Created:    time.Unix(1700000000, 0).UTC(),
		Repository: "ghcr.io/meshguard/meshguard",
	}
	if spec.Revision == "" {
		spec.Revision = "unknown"
	}
	bins := t.TempDir()
	for _, arch := range []string{"amd64", "arm64"} {
		p := v1.Platform{OS: "linux", Architecture: arch}
		start := time.Now()
		path, err := buildWebhook(ctx, "go", src, bins, testVersion, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("built %s in %s", p, time.Since(start).Round(time.Millisecond))
		spec.Binaries = append(spec.Binaries, Binary{Platform: p, Path: path})
	}
	first, err := assemble(spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range first.Images {
		t.Logf("%s %s compressed %s", b.Platform, b.Digest, humanSize(b.Compressed))
	}

	t.Run("reproducible", func(t *testing.T) { testReproducible(t, spec, first) })
	t.Run("layout", func(t *testing.T) { testLayout(t, spec, first) })
	t.Run("filesystem", func(t *testing.T) { testFilesystem(t, spec, first) })
	t.Run("sboms", func(t *testing.T) { testSBOMs(t, spec, first) })
	t.Run("runs as nonroot", func(t *testing.T) { testRunsAsNonroot(t, spec, first) })
}

// testReproducible assembles the same spec again elsewhere and expects the
// same digests and the same bytes; a different SOURCE_DATE_EPOCH must show,
// or the comparison would pass on inputs that are ignored.
func testReproducible(t *testing.T, spec Spec, first Result) {
	second, err := assemble(spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if first.Index != second.Index {
		t.Errorf("index digest: first %s, second %s", first.Index, second.Index)
	}
	if len(first.Images) != len(second.Images) {
		t.Fatalf("first has %d images, second %d", len(first.Images), len(second.Images))
	}
	for i, a := range first.Images {
		b := second.Images[i]
		if a.Digest != b.Digest || a.Compressed != b.Compressed {
			t.Errorf("%s: first %s (%d bytes), second %s (%d bytes)", a.Platform, a.Digest, a.Compressed, b.Digest, b.Compressed)
		}
		if !sameFile(t, a.Tarball, b.Tarball) {
			t.Errorf("%s: docker tarballs differ", a.Platform)
		}
		if !sameFile(t, a.SBOM, b.SBOM) {
			t.Errorf("%s: SBOMs differ", a.Platform)
		}
	}
	if !sameFile(t, filepath.Join(first.Layout, "index.json"), filepath.Join(second.Layout, "index.json")) {
		t.Error("layout index.json files differ")
	}

	later := spec
	later.Created = spec.Created.Add(time.Second)
	later.Binaries = spec.Binaries[:1]
	moved, err := assemble(later, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if moved.Images[0].Digest == first.Images[0].Digest {
		t.Errorf("%s: SOURCE_DATE_EPOCH one second later gave the same digest %s", moved.Images[0].Platform, moved.Images[0].Digest)
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

// TestRunRefusesBadInput checks that mistakes are reported before the slow
// builds start, and that nothing is written.
func TestRunRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-source-date-epoch", "yesterday"}, "not a non-negative Unix time"},
		{nil, "SOURCE_DATE_EPOCH is not set"},
		{[]string{"-source-date-epoch", "1", "-platforms", "windows/amd64"}, "Linux nodes only"},
		{[]string{"-source-date-epoch", "1", "-version", "v1.0.0+meta"}, "tag can only contain"},
	} {
		out := filepath.Join(t.TempDir(), "dist")
		var stdout, stderr bytes.Buffer
		args := append([]string{"-src", "../..", "-out", out}, tc.args...)
		code := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run %q = %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("run %q wrote %s", tc.args, out)
		}
	}
}

func TestParseEpoch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1700000000", time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC), true},
		{"0", time.Unix(0, 0).UTC(), true},
		{"", time.Time{}, false},
		{"-1", time.Time{}, false},
		{"2023-11-14", time.Time{}, false},
	} {
		got, err := parseEpoch(tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseEpoch(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
