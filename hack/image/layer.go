package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rootfs holds the files the image carries besides the binary. The Dockerfile
// copies the same files, so both ways of building agree on users and groups.
//
//go:embed rootfs/etc/passwd rootfs/etc/group
var rootfs embed.FS

// entry is one member of the layer. Paths are relative to / as in every
// image layer; directories end in a slash.
type entry struct {
	name string
	mode int64
	data []byte
}

// rootfsEntries lists the image's filesystem for the given binary. The one
// writable place is /tmp, sticky like on any Unix system, so that libraries
// calling os.TempDir work under a read-only root filesystem with an emptyDir
// mounted there.
func rootfsEntries(binary []byte) ([]entry, error) {
	passwd, err := rootfs.ReadFile("rootfs/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := rootfs.ReadFile("rootfs/etc/group")
	if err != nil {
		return nil, err
	}
	return []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: group},
		{name: "etc/passwd", mode: 0o644, data: passwd},
		{name: "tmp/", mode: 0o1777},
		{name: "webhook", mode: 0o755, data: binary},
	}, nil
}

// layerTar writes entries as an uncompressed tar stream whose bytes depend
// only on the entries and mtime: sorted names, root ownership without user
// names, and the USTAR format, which has no access or change times to leak
// the build machine's clock.
func layerTar(entries []entry, mtime time.Time) ([]byte, error) {
	sorted := append([]entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range sorted {
		hdr := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			ModTime: mtime,
			Format:  tar.FormatUSTAR,
		}
		if e.name[len(e.name)-1] == '/' {
			hdr.Typeflag = tar.TypeDir
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("tar body %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipBytes compresses once: go-containerregistry would otherwise recompress
// at its fastest level, 15% larger, each time it reads the layer. The default
// level is within 0.5% of the best at a fifth of its time. The gzip header
// carries no name and a zero mtime, so equal input gives equal output.
func gzipBytes(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// rootfsLayer builds the image's single layer around binary, with every file
// time set to mtime.
func rootfsLayer(binary []byte, mtime time.Time) (v1.Layer, error) {
	entries, err := rootfsEntries(binary)
	if err != nil {
		return nil, err
	}
	raw, err := layerTar(entries, mtime)
	if err != nil {
		return nil, err
	}
	compressed, err := gzipBytes(raw)
	if err != nil {
		return nil, err
	}
	// Handed already compressed, the layer keeps these exact bytes.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
