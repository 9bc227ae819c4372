package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// convertPhase names the outcomes of the converted objects.
const convertPhase = "convert"

// convertDenied runs the command the Ingress's denial names, prints the
// replacement objects and the report, and applies the objects: the
// migration's next step, on the same control plane.
func (d *demo) convertDenied(ctx context.Context, ns string, ing *outcome) ([]*outcome, error) {
	file := filepath.Join(storyDir, ing.file)
	d.printf("\n  the denial names the replacement; `kubectl meshguard convert -n %s -f %s` prints:\n", ns, file)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, d.bin, "convert", "-n", ns, "-f", filepath.Join(d.o.Repo, file))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	// Exit code 1: something was not carried, which the report names.
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("webhook convert: %v: %s", err, stderr.String())
	}
	for line := range strings.Lines(stdout.String()) {
		d.printf("%s%s", indent, line)
	}
	for line := range strings.Lines(stderr.String()) {
		d.printf("%s", wrap("report: "+strings.TrimSuffix(line, "\n"), indent))
	}
	var out []*outcome
	for _, doc := range strings.Split(stdout.String(), "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			return nil, fmt.Errorf("webhook convert wrote a document that does not decode: %w", err)
		}
		oc, err := d.apply(ctx, convertPhase, ns, true, obj)
		if err != nil {
			return nil, err
		}
		if oc.status == mutated && len(oc.annotations) == 0 {
			// The CRDs' defaults (allowedRoutes, weights), not meshguard.
			oc.status, oc.diffs = allowed, nil
		}
		oc.problem = expect(oc)
		d.print(oc)
		out = append(out, oc)
	}
	if len(out) == 0 {
		return nil, errors.New("webhook convert wrote no objects for the story's Ingress")
	}
	return out, nil
}
