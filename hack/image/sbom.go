package main

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"
)

// SBOMMediaType is the SPDX JSON media type, the artifactType of the SBOM
// attached to each image.
const SBOMMediaType = "application/spdx+json"

// spdxDocument is the part of SPDX 2.3 JSON an SBOM of a Go binary needs.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string            `json:"SPDXID"`
	Name             string            `json:"name"`
	VersionInfo      string            `json:"versionInfo,omitempty"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	Checksums        []spdxChecksum    `json:"checksums,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
	Comment          string            `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// sbom returns the SPDX 2.3 JSON SBOM of the Go binary at path, read from
// the build information the Go toolchain embeds: the main module, every
// module linked in (with its go.sum hash), and the toolchain. Equal binaries
// and times give equal bytes.
func sbom(path string, created time.Time) ([]byte, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		return nil, fmt.Errorf("%s: no Go build information: %w", path, err)
	}
	sum := sha256.Sum256(bin)
	digest := hex.EncodeToString(sum[:])
	var goos, goarch string
	for _, s := range info.Settings {
		switch s.Key {
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              fmt.Sprintf("meshguard webhook %s %s/%s", info.Main.Version, goos, goarch),
		DocumentNamespace: sourceURL + "/sbom/" + digest,
		CreationInfo: spdxCreationInfo{
			Created:  created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: meshguard-hack-image", "Organization: meshguard"},
		},
	}
	root := spdxPackage{
		SPDXID: "SPDXRef-Package-webhook", Name: "webhook", VersionInfo: info.Main.Version,
		DownloadLocation: sourceURL, FilesAnalyzed: false,
		Checksums:    []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: digest}},
		ExternalRefs: []spdxExternalRef{purl(info.Main.Path, info.Main.Version)},
		Comment:      "the static /webhook binary of the image; module " + info.Main.Path,
	}
	doc.Packages = append(doc.Packages, root)
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", root.SPDXID})
	toolchain := spdxPackage{
		SPDXID: "SPDXRef-Package-go", Name: "go", VersionInfo: strings.TrimPrefix(info.GoVersion, "go"),
		DownloadLocation: "https://go.dev/dl/", FilesAnalyzed: false,
		ExternalRefs: []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: "pkg:golang/stdlib@" + info.GoVersion}},
		Comment:      "the Go toolchain and standard library linked into the binary",
	}
	doc.Packages = append(doc.Packages, toolchain)
	doc.Relationships = append(doc.Relationships, spdxRelationship{root.SPDXID, "DEPENDS_ON", toolchain.SPDXID})
	for i, m := range info.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		p := spdxPackage{
			SPDXID: fmt.Sprintf("SPDXRef-Package-module-%d", i), Name: m.Path, VersionInfo: m.Version,
			DownloadLocation: "https://proxy.golang.org/" + m.Path + "/@v/" + m.Version + ".zip", FilesAnalyzed: false,
			ExternalRefs: []spdxExternalRef{purl(m.Path, m.Version)},
		}
		if m.Sum != "" {
			p.Comment = "go.sum " + m.Sum
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{root.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// purl is a Go module's package URL.
func purl(path, version string) spdxExternalRef {
	return spdxExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: "pkg:golang/" + path + "@" + version}
}

// buildInfoOf is debug.BuildInfo of a binary, for tests.
func buildInfoOf(path string) (*debug.BuildInfo, error) { return buildinfo.ReadFile(path) }
