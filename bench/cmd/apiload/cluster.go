package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/meshguard/meshguard/hack/demo/local"
)

// The webhook process and the chart's webhook configurations come from
// hack/demo/local, shared with `make demo`.

// tools locates kube-apiserver, etcd and helm: $KUBEBUILDER_ASSETS and $HELM
// when both are set, otherwise what hack/tools/build.sh prints (it only
// builds what is not cached yet).
func tools(ctx context.Context, repo string) (assets, helm string, err error) {
	if a, h := os.Getenv("KUBEBUILDER_ASSETS"), os.Getenv("HELM"); a != "" && h != "" {
		return a, h, nil
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "hack", "tools", "build.sh"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("hack/tools/build.sh: %w\n%s", err, stderr.String())
	}
	for line := range strings.Lines(stdout.String()) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch key {
		case "KUBEBUILDER_ASSETS":
			assets = value
		case "HELM":
			helm = value
		}
	}
	if assets == "" || helm == "" {
		return "", "", fmt.Errorf("hack/tools/build.sh printed no KUBEBUILDER_ASSETS or HELM line: %q", stdout.String())
	}
	return assets, helm, nil
}

// webhook is the `webhook serve` process under measurement, started as
// `make demo` starts it (hack/demo/local).
type webhook struct{ *local.Webhook }
