package chart

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestMemoryLimitReachesTheProcess: the container's memory limit is passed
// as $MEMORY_LIMIT through the downward API, from which meshguard derives
// GOMEMLIMIT and its cap on bytes in flight; without a limit the variable
// is absent, since the downward API would report the node's memory.
func TestMemoryLimitReachesTheProcess(t *testing.T) {
	c := render(t, nil).container(t)
	e := env(c, "MEMORY_LIMIT")
	if e == nil || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil {
		t.Fatalf("no MEMORY_LIMIT from the downward API in %+v", c.Env)
	}
	ref := e.ValueFrom.ResourceFieldRef
	if ref.Resource != "limits.memory" || ref.ContainerName != c.Name || c.Name != "webhook" {
		t.Errorf("MEMORY_LIMIT comes from %s of container %q; want limits.memory of this container, webhook", ref.Resource, ref.ContainerName)
	}
	if !ref.Divisor.IsZero() && ref.Divisor.Value() != 1 {
		t.Errorf("MEMORY_LIMIT is divided by %s; meshguard reads bytes", ref.Divisor.String())
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Error("the default renders no memory limit to pass on")
	}

	for name, v := range map[string]string{
		"no memory limit":  "resources:\n  limits:\n    memory: null\n",
		"no resources set": "resources: null\n",
	} {
		t.Run(name, func(t *testing.T) {
			c := render(t, values(t, v)).container(t)
			if e := env(c, "MEMORY_LIMIT"); e != nil {
				t.Errorf("MEMORY_LIMIT is set without a memory limit: %+v", e)
			}
			if env(c, "POD_NAMESPACE") == nil {
				t.Error("POD_NAMESPACE went missing")
			}
		})
	}
}

// env is the container's environment variable name, or nil.
func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}
