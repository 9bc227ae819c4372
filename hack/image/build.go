package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ldflags are the release link flags: no symbol tables (-s -w) and an empty
// build ID, which otherwise hashes the build inputs in a way that differs
// between otherwise identical builds on different machines.
func ldflags(version string) string {
	return "-s -w -buildid= -X main.version=" + version
}

// gitRevision reports the commit checked out at src, or "" when src is not a
// git work tree (a source tarball), in which case nothing is stamped.
func gitRevision(ctx context.Context, src string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", src, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// buildWebhook compiles the webhook of the module at src for platform into
// dir/linux-<arch>/webhook and returns that path.
func buildWebhook(ctx context.Context, goCmd, src, dir, version string, platform v1.Platform) (string, error) {
	out, err := filepath.Abs(filepath.Join(dir, platform.OS+"-"+platform.Architecture, "webhook"))
	if err != nil {
		return "", err
	}
	// VCS stamping is asked for explicitly because a GOFLAGS of
	// -buildvcs=false would otherwise drop the commit from `webhook version`;
	// it is off only where there is no commit to stamp.
	vcs := "-buildvcs=false"
	if gitRevision(ctx, src) != "" {
		vcs = "-buildvcs=true"
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", vcs, "-trimpath", "-ldflags", ldflags(version), "-o", out, "./cmd/webhook")
	cmd.Dir = src
	// The baseline microarchitecture levels keep the binary runnable on every
	// node of its architecture whatever the builder's environment says.
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0",
		"GOOS="+platform.OS,
		"GOARCH="+platform.Architecture,
		"GOAMD64=v1",
		"GOARM64=v8.0",
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build for %s: %w", platform, err)
	}
	return out, nil
}
