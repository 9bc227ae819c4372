package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// testSBOMs: each image has one SBOM entry in the index, an artifact of type
// application/spdx+json whose subject is the image and whose blob is the
// SPDX file written next to the tarballs; the SPDX document describes that
// binary (its SHA-256) and lists the modules it links, as `go version -m`
// reads them.
func testSBOMs(t *testing.T, spec Spec, res Result) {
	idx := layoutIndex(t, res)
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]string{} // image digest → SBOM blob
	for _, d := range m.Manifests {
		if d.Platform == nil || d.Platform.OS != sbomPlatform.OS {
			continue
		}
		if d.ArtifactType != "" {
			t.Errorf("%s: index entry has artifactType %q; older skopeo rewrites such an index", d.Digest, d.ArtifactType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := img.RawManifest()
		if err != nil {
			t.Fatal(err)
		}
		var man struct {
			ArtifactType string `json:"artifactType"`
			Config       struct{ MediaType types.MediaType }
			Subject      *struct{ Digest string }
		}
		if err := json.Unmarshal(raw, &man); err != nil {
			t.Fatal(err)
		}
		if man.ArtifactType != SBOMMediaType || man.Config.MediaType != types.OCIEmptyJSON || man.Subject == nil {
			t.Fatalf("SBOM manifest %s", raw)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("SBOM artifact layers: %v, %v", layers, err)
		}
		rc, err := layers[0].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		blob, _ := io.ReadAll(rc)
		rc.Close()
		subjects[man.Subject.Digest] = string(blob)
	}
	if len(subjects) != len(res.Images) {
		t.Fatalf("%d SBOM entries for %d images", len(subjects), len(res.Images))
	}
	for i, b := range res.Images {
		file, err := os.ReadFile(b.SBOM)
		if err != nil {
			t.Fatal(err)
		}
		if subjects[b.Digest.String()] != string(file) {
			t.Errorf("%s: the index's SBOM for image %s is not %s", b.Platform, b.Digest, b.SBOM)
		}
		var doc spdxDocument
		if err := json.Unmarshal(file, &doc); err != nil {
			t.Fatal(err)
		}
		bin, err := os.ReadFile(spec.Binaries[i].Path)
		if err != nil {
			t.Fatal(err)
		}
		info, err := buildInfoOf(spec.Binaries[i].Path)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range doc.Packages {
			names = append(names, p.Name)
		}
		root := doc.Packages[0]
		if doc.SPDXVersion != "SPDX-2.3" || root.Name != "webhook" || len(root.Checksums) != 1 ||
			root.Checksums[0].ChecksumValue != sha256Hex(bin) || doc.CreationInfo.Created != "2023-11-14T22:13:20Z" {
			t.Errorf("%s: SBOM header %+v, root %+v", b.Platform, doc.CreationInfo, root)
		}
		for _, want := range []string{"sigs.k8s.io/controller-runtime", "github.com/prometheus/client_golang", "go"} {
			if !slices.Contains(names, want) {
				t.Errorf("%s: SBOM lists no %s", b.Platform, want)
			}
		}
		if len(doc.Packages) != len(info.Deps)+2 || len(doc.Relationships) != len(doc.Packages) {
			t.Errorf("%s: %d packages and %d relationships for %d modules", b.Platform, len(doc.Packages), len(doc.Relationships), len(info.Deps))
		}
		if !strings.Contains(string(file), `"pkg:golang/sigs.k8s.io/controller-runtime@v`) || bytes.Contains(file, []byte(os.Getenv("HOME"))) {
			t.Errorf("%s: SBOM lacks purls or names a local path", b.Platform)
		}
	}
}
