package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"maps"
	"os"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// layoutIndex reads the OCI layout the way a pushing tool does: index.json
// must name exactly the multi-platform index, which is returned.
func layoutIndex(t *testing.T, res Result) v1.ImageIndex {
	t.Helper()
	ii, err := layout.ImageIndexFromPath(res.Layout)
	if err != nil {
		t.Fatal(err)
	}
	top, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want 1 (the index)", len(top.Manifests))
	}
	entry := top.Manifests[0]
	if entry.MediaType != types.OCIImageIndex || entry.Digest != res.Index {
		t.Fatalf("index.json entry is %s %s, want %s %s", entry.MediaType, entry.Digest, types.OCIImageIndex, res.Index)
	}
	if got := entry.Annotations["org.opencontainers.image.ref.name"]; got != testVersion {
		t.Errorf("index.json ref.name = %q, want %q", got, testVersion)
	}
	idx, err := ii.ImageIndex(entry.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// layoutImages returns the images of the layout's index, in index order,
// checking that each descriptor's platform matches its config.
func layoutImages(t *testing.T, res Result) []v1.Image {
	t.Helper()
	idx := layoutIndex(t, res)
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var imgs []v1.Image
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == sbomPlatform.OS {
			continue // an SBOM (testSBOMs)
		}
		if d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: media type %s, want %s", d.Digest, d.MediaType, types.OCIManifestSchema1)
		}
		if d.ArtifactType != "" {
			t.Errorf("%s: index entry has artifactType %q; older skopeo rewrites such an index", d.Digest, d.ArtifactType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if d.Platform == nil || d.Platform.OS != cfg.OS || d.Platform.Architecture != cfg.Architecture {
			t.Errorf("%s: index platform %v disagrees with config %s/%s", d.Digest, d.Platform, cfg.OS, cfg.Architecture)
		}
		imgs = append(imgs, img)
	}
	return imgs
}

// testLayout checks the index and each image's config against what the
// docs and the Helm chart rely on.
func testLayout(t *testing.T, spec Spec, res Result) {
	// Digests, sizes and diff IDs all agree with the blobs.
	if err := validate.Index(layoutIndex(t, res)); err != nil {
		t.Fatalf("index does not validate: %v", err)
	}
	imgs := layoutImages(t, res)
	if len(imgs) != len(spec.Binaries) {
		t.Fatalf("index has %d images, want %d", len(imgs), len(spec.Binaries))
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/meshguard/meshguard",
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": spec.Revision,
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  "2023-11-14T22:13:20Z",
	}
	for i, img := range imgs {
		want := spec.Binaries[i].Platform
		digest, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if digest != res.Images[i].Digest {
			t.Errorf("%s: layout holds %s, assemble reported %s", want, digest, res.Images[i].Digest)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != want.OS || cfg.Architecture != want.Architecture {
			t.Errorf("image %d is %s/%s, want %s", i, cfg.OS, cfg.Architecture, want)
		}
		c := cfg.Config
		if c.User != "65532:65532" {
			t.Errorf("%s: User = %q, want 65532:65532", want, c.User)
		}
		if !slices.Equal(c.Entrypoint, []string{"/webhook"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
			t.Errorf("%s: Entrypoint %q Cmd %q, want [/webhook] [serve]", want, c.Entrypoint, c.Cmd)
		}
		if c.WorkingDir != "/" {
			t.Errorf("%s: WorkingDir = %q, want /", want, c.WorkingDir)
		}
		if !maps.Equal(c.Labels, wantLabels) {
			t.Errorf("%s: labels\n got %v\nwant %v", want, c.Labels, wantLabels)
		}
		if !cfg.Created.Time.Equal(spec.Created) {
			t.Errorf("%s: created %s, want %s", want, cfg.Created.Time, spec.Created)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
			t.Errorf("%s: layers %v, want one %s", want, m.Layers, types.OCILayer)
		}
		if m.Config.MediaType != types.OCIConfigJSON {
			t.Errorf("%s: config media type %s, want %s", want, m.Config.MediaType, types.OCIConfigJSON)
		}
		checkDockerTarball(t, res.Images[i].Tarball, res.Tag.String(), img)
		// The size budget docs/image.md states.
		if res.Images[i].Compressed >= 30e6 {
			t.Errorf("%s: compressed size %s, budget 30 MB", want, humanSize(res.Images[i].Compressed))
		}
	}
}

// checkDockerTarball checks that the docker-loadable file is tagged name and
// holds the same config and layer as the layout's image.
func checkDockerTarball(t *testing.T, path, name string, img v1.Image) {
	t.Helper()
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{name}) {
		t.Fatalf("%s: manifest.json %+v, want one image tagged %s", path, m, name)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	digest, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	if m[0].Config != cfg.String() || !slices.Equal(m[0].Layers, []string{digest.Hex + ".tar.gz"}) {
		t.Errorf("%s: config %s layers %v, want %s [%s.tar.gz]", path, m[0].Config, m[0].Layers, cfg, digest.Hex)
	}
}

// file is one tar member of the layer, with its body.
type file struct {
	hdr  *tar.Header
	body []byte
}

// layerFiles returns the members of the image's only layer, in tar order.
func layerFiles(t *testing.T, img v1.Image) []file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var files []file
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file{hdr: hdr, body: body})
	}
}

// testFilesystem checks the exact file list, modes, owners and times, and
// that /webhook is a static executable for the image's architecture.
func testFilesystem(t *testing.T, spec Spec, res Result) {
	want := []struct {
		name     string
		typeflag byte
		mode     int64
	}{
		{"etc/", tar.TypeDir, 0o755},
		{"etc/group", tar.TypeReg, 0o644},
		{"etc/passwd", tar.TypeReg, 0o644},
		{"tmp/", tar.TypeDir, 0o1777},
		{"webhook", tar.TypeReg, 0o755},
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, img := range layoutImages(t, res) {
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		arch := cfg.Architecture
		files := layerFiles(t, img)
		if len(files) != len(want) {
			var names []string
			for _, f := range files {
				names = append(names, f.hdr.Name)
			}
			t.Fatalf("%s: layer holds %q, want %d entries", arch, names, len(want))
		}
		for i, f := range files {
			w, h := want[i], f.hdr
			if h.Name != w.name || h.Typeflag != w.typeflag || h.Mode != w.mode {
				t.Errorf("%s: entry %d is %q type %c mode %#o, want %q type %c mode %#o", arch, i, h.Name, h.Typeflag, h.Mode, w.name, w.typeflag, w.mode)
			}
			if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
				t.Errorf("%s: %s owned by %d:%d (%q:%q), want 0:0", arch, h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
			}
			if !h.ModTime.Equal(spec.Created) {
				t.Errorf("%s: %s mtime %s, want SOURCE_DATE_EPOCH %s", arch, h.Name, h.ModTime, spec.Created)
			}
		}
		byName := map[string][]byte{}
		for _, f := range files {
			byName[f.hdr.Name] = f.body
		}
		if !bytes.Contains(byName["etc/passwd"], []byte("\nnonroot:x:65532:65532:")) || !bytes.HasPrefix(byName["etc/passwd"], []byte("root:x:0:0:")) {
			t.Errorf("%s: /etc/passwd lacks root or nonroot 65532:\n%s", arch, byName["etc/passwd"])
		}
		if !bytes.Contains(byName["etc/group"], []byte("\nnonroot:x:65532:")) || !bytes.HasPrefix(byName["etc/group"], []byte("root:x:0:")) {
			t.Errorf("%s: /etc/group lacks root or nonroot 65532:\n%s", arch, byName["etc/group"])
		}
		checkStaticELF(t, arch, machines[arch], byName["webhook"])
	}
}

// checkStaticELF fails unless bin is an ELF executable for machine that needs
// no dynamic loader: a scratch image has none to offer.
func checkStaticELF(t *testing.T, arch string, machine elf.Machine, bin []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s: /webhook is not ELF: %v", arch, err)
	}
	defer f.Close()
	if f.Machine != machine || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Errorf("%s: /webhook is %s %s %s, want %s ELFCLASS64 ET_EXEC", arch, f.Machine, f.Class, f.Type, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: /webhook has a %s program header: it is dynamically linked", arch, p.Type)
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		t.Errorf("%s: /webhook has a .dynamic or .interp section", arch)
	}
}
