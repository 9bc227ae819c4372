package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// emptyConfig is the OCI empty descriptor's content, the config of an
// artifact manifest.
var emptyConfig = []byte("{}")

// sbomPlatform marks the SBOM entries of the index: not a runnable image,
// so container runtimes choosing a platform pass over them.
var sbomPlatform = v1.Platform{OS: "unknown", Architecture: "unknown"}

// artifact is an OCI 1.1 artifact manifest: one blob, an empty config, and
// a subject, the image it is about. Pushed with the index, registries list
// it among the image's referrers (`oras discover`, `cosign tree`).
type artifact struct {
	manifest []byte
	layer    v1.Layer
}

// sbomArtifact wraps an SBOM as a referrer of the image img.
func sbomArtifact(img v1.Image, sbom []byte, title string, created time.Time) (v1.Image, error) {
	subject, err := partial.Descriptor(img)
	if err != nil {
		return nil, err
	}
	layer := static.NewLayer(sbom, SBOMMediaType)
	ld, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	configDigest, _, err := v1.SHA256(bytes.NewReader(emptyConfig))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Digest: configDigest, Size: int64(len(emptyConfig))},
		Layers: []v1.Descriptor{{MediaType: ld.MediaType, Digest: ld.Digest, Size: ld.Size,
			Annotations: map[string]string{"org.opencontainers.image.title": title}}},
		Subject:     &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{"org.opencontainers.image.created": created.UTC().Format(time.RFC3339)},
	}
	raw, err := json.Marshal(struct {
		v1.Manifest
		ArtifactType string `json:"artifactType"`
	}{m, SBOMMediaType})
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(artifact{manifest: raw, layer: layer})
}

// RawConfigFile implements partial.CompressedImageCore.
func (a artifact) RawConfigFile() ([]byte, error) { return emptyConfig, nil }

// MediaType implements partial.CompressedImageCore.
func (a artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// RawManifest implements partial.CompressedImageCore.
func (a artifact) RawManifest() ([]byte, error) { return a.manifest, nil }

// LayerByDigest implements partial.CompressedImageCore.
func (a artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, err := a.layer.Digest(); err == nil && d == h {
		return a.layer, nil
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}
