package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nonroot is the user the webhook runs as, the same as distroless's nonroot;
// rootfs/etc/passwd names it.
const nonroot = "65532:65532"

// sourceURL is where the image says it comes from.
const sourceURL = "https://github.com/meshguard/meshguard"

// Spec is everything an image depends on: equal Specs, with equal binaries,
// give equal digests.
type Spec struct {
	// Version is the version stamped into the binaries; it tags the image
	// and becomes its version label.
	Version string
	// Revision is the source commit, for the revision label.
	Revision string
	// Created is SOURCE_DATE_EPOCH: every file time and the creation time.
	Created time.Time
	// Repository is the name the docker tarballs are tagged with, Version
	// being the tag.
	Repository string
	// Binaries are the webhook builds, one per platform, in index order.
	Binaries []Binary
}

// Binary is a webhook executable built for one platform.
type Binary struct {
	Platform v1.Platform
	Path     string
}

// Built describes one platform's image as written.
type Built struct {
	Platform v1.Platform
	Digest   v1.Hash
	// Compressed is what a pull downloads: the config and layer blobs.
	Compressed int64
	// Tarball is the docker-loadable file for this platform.
	Tarball string
	// SBOM is the SPDX JSON file of the binary; the index carries it too,
	// as an artifact whose subject is this image.
	SBOM string
}

// Result is what assemble wrote.
type Result struct {
	Tag    name.Tag
	Index  v1.Hash
	Layout string
	Images []Built
}

// Labels returns the OCI labels of the image config.
func (s Spec) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":   sourceURL,
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  s.Created.UTC().Format(time.RFC3339),
	}
}

// tag is the name the docker tarballs carry. A version that is no valid tag
// (semver build metadata: v1.0.0+meta) is refused rather than rewritten, so
// the name stays what the Helm chart derives from the version.
func (s Spec) tag() (name.Tag, error) {
	tag, err := name.NewTag(s.Repository+":"+s.Version, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image name from repository %q and version %q: %w", s.Repository, s.Version, err)
	}
	return tag, nil
}

// image assembles one platform's image from scratch around its binary.
func (s Spec) image(b Binary) (v1.Image, error) {
	binary, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, err
	}
	layer, err := rootfsLayer(binary, s.Created)
	if err != nil {
		return nil, fmt.Errorf("%s layer: %w", b.Platform, err)
	}
	created := v1.Time{Time: s.Created.UTC()}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: b.Platform.Architecture,
		OS:           b.Platform.OS,
		Variant:      b.Platform.Variant,
		Created:      created,
		Config: v1.Config{
			User:       nonroot,
			Entrypoint: []string{"/webhook"},
			Cmd:        []string{"serve"},
			WorkingDir: "/",
			Labels:     s.Labels(),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "hack/image: /webhook " + s.Version + ", /etc/passwd, /etc/group, /tmp",
		},
	})
}

// assemble builds every platform's image and the index over them, and writes
// an OCI layout to out/oci and a docker tarball per platform to out.
func assemble(s Spec, out string) (Result, error) {
	tag, err := s.tag()
	if err != nil {
		return Result{}, err
	}
	res := Result{Tag: tag, Layout: filepath.Join(out, "oci")}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var sboms []sbomFor
	for _, b := range s.Binaries {
		img, err := s.image(b)
		if err != nil {
			return Result{}, err
		}
		platform := b.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        plainImage{img},
			Descriptor: v1.Descriptor{Platform: &platform},
		})
		built, err := describe(img, platform)
		if err != nil {
			return Result{}, err
		}
		built.Tarball = filepath.Join(out, fmt.Sprintf("meshguard-%s-%s-%s.tar", s.Version, platform.OS, platform.Architecture))
		if err := tarball.WriteToFile(built.Tarball, tag, img); err != nil {
			return Result{}, fmt.Errorf("docker tarball %s: %w", built.Tarball, err)
		}
		res.Images = append(res.Images, built)
		sboms = append(sboms, sbomFor{img, b})
	}
	// The SBOMs follow the images, so the images keep their index order.
	for i, sb := range sboms {
		art, err := sb.attach(s, out)
		if err != nil {
			return Result{}, err
		}
		platform := sbomPlatform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        plainImage{art},
			Descriptor: v1.Descriptor{Platform: &platform},
		})
		res.Images[i].SBOM = sb.path(s, out)
	}
	if res.Index, err = idx.Digest(); err != nil {
		return Result{}, err
	}
	return res, writeLayout(res.Layout, idx, s.Version)
}

// sbomFor is one image whose SBOM is still to write and attach.
type sbomFor struct {
	img v1.Image
	bin Binary
}

func (s sbomFor) path(spec Spec, out string) string {
	return filepath.Join(out, fmt.Sprintf("meshguard-%s-%s-%s.spdx.json", spec.Version, s.bin.Platform.OS, s.bin.Platform.Architecture))
}

// attach writes the binary's SBOM next to the tarballs and returns it as an
// artifact referring to the image.
func (s sbomFor) attach(spec Spec, out string) (v1.Image, error) {
	doc, err := sbom(s.bin.Path, spec.Created)
	if err != nil {
		return nil, err
	}
	path := s.path(spec, out)
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		return nil, err
	}
	return sbomArtifact(s.img, doc, filepath.Base(path), spec.Created)
}

// plainImage lists an image in the index without the artifactType that
// go-containerregistry adds. The field is meant for artifacts, and tools that
// predate it (Debian 12's skopeo) re-encode an index carrying it, which
// changes the index digest that users pin.
type plainImage struct{ v1.Image }

// Descriptor is what the index records for the image.
func (p plainImage) Descriptor() (*v1.Descriptor, error) {
	mt, err := p.MediaType()
	if err != nil {
		return nil, err
	}
	size, err := p.Size()
	if err != nil {
		return nil, err
	}
	digest, err := p.Digest()
	if err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: mt, Size: size, Digest: digest}, nil
}

// describe reports an image's digest and download size.
func describe(img v1.Image, platform v1.Platform) (Built, error) {
	digest, err := img.Digest()
	if err != nil {
		return Built{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return Built{}, err
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return Built{Platform: platform, Digest: digest, Compressed: size}, nil
}

// writeLayout replaces dir with an OCI layout whose index.json names one
// entry, the multi-platform index, so that `crane push dist/oci REF` and
// `skopeo copy --all oci:dist/oci …` need no flag to pick it.
func writeLayout(dir string, idx v1.ImageIndex, version string) error {
	// Appending to an existing layout would list the index twice.
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": version,
	}))
}
