// Command image builds meshguard's container image without a container
// engine: it cross-compiles the static webhook binary, puts it in a single
// layer beside /etc/passwd, /etc/group and /tmp, and writes an OCI layout
// holding a multi-platform index plus a docker-loadable tarball per platform.
// The output is reproducible: with the same sources, toolchain and
// SOURCE_DATE_EPOCH the digests are the same on any machine.
//
// Run it through `make image`; docs/image.md tells how to push the result.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run parses flags, builds and writes the image, and prints its digests; it
// returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("src", "../..", "root of the meshguard module to build")
	out := fs.String("out", "../../dist", "output folder: oci/ and the docker tarballs")
	version := fs.String("version", "dev", "version stamped into the binary; also the image tag")
	repository := fs.String("repository", "ghcr.io/meshguard/meshguard", "repository the docker tarballs are tagged in")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated linux platforms, in index order")
	goCmd := fs.String("go", "go", "go command used to build the binary")
	epoch := fs.String("source-date-epoch", getenv("SOURCE_DATE_EPOCH"), "Unix time of every file and of the image's creation (default $SOURCE_DATE_EPOCH)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	created, err := parseEpoch(*epoch)
	if err != nil {
		fmt.Fprintln(stderr, "image:", err)
		return 2
	}
	var ps []v1.Platform
	for _, s := range strings.Split(*platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err == nil && p.OS != "linux" {
			err = fmt.Errorf("platform %s: the image is for Linux nodes only", p)
		}
		if err != nil {
			fmt.Fprintln(stderr, "image:", err)
			return 2
		}
		ps = append(ps, *p)
	}

	spec := Spec{
		Version:    *version,
		Revision:   gitRevision(ctx, *src),
		Created:    created,
		Repository: *repository,
	}
	if spec.Revision == "" {
		spec.Revision = "unknown"
	}
	// Checked before the builds, which take a while.
	if _, err := spec.tag(); err != nil {
		fmt.Fprintln(stderr, "image:", err)
		return 2
	}
	for _, p := range ps {
		path, err := buildWebhook(ctx, *goCmd, *src, filepath.Join(*out, "bin"), *version, p)
		if err != nil {
			fmt.Fprintln(stderr, "image:", err)
			return 1
		}
		spec.Binaries = append(spec.Binaries, Binary{Platform: p, Path: path})
	}
	res, err := assemble(spec, *out)
	if err != nil {
		fmt.Fprintln(stderr, "image:", err)
		return 1
	}
	printResult(stdout, res)
	return 0
}

// parseEpoch reads SOURCE_DATE_EPOCH. It is required rather than defaulted
// to the clock, which would make every build differ.
func parseEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("SOURCE_DATE_EPOCH is not set (make image sets it to the last commit's time)")
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a non-negative Unix time", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// printResult prints the digests to pin and the sizes to watch.
func printResult(w io.Writer, res Result) {
	fmt.Fprintf(w, "%-12s %s\n", "image", res.Tag)
	fmt.Fprintf(w, "%-12s %s  %s\n", "index", res.Index, res.Layout)
	for _, b := range res.Images {
		fmt.Fprintf(w, "%-12s %s  compressed %s  %s\n",
			b.Platform.String(), b.Digest, humanSize(b.Compressed), b.Tarball)
		fmt.Fprintf(w, "%-12s %s\n", "  sbom", b.SBOM)
	}
}

// humanSize prints n bytes in MB (10^6, as registries report) and exactly.
func humanSize(n int64) string {
	return fmt.Sprintf("%.1f MB (%d bytes)", float64(n)/1e6, n)
}
