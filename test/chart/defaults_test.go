package chart

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultDeployment(t *testing.T) {
	m := render(t, nil)
	d := m.Deployment
	pod := d.Spec.Template.Spec
	c := m.container(t)
	args := m.args(t)
	checks := map[string]func() bool{
		"two replicas by default": func() bool { return deref(d.Spec.Replicas) == 2 },
		"a rolling update never drops below the desired replicas": func() bool {
			return d.Spec.Strategy.RollingUpdate != nil && d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() == 0
		},
		"replicas spread across nodes without blocking scheduling": func() bool {
			return len(pod.TopologySpreadConstraints) == 1 &&
				pod.TopologySpreadConstraints[0].TopologyKey == "kubernetes.io/hostname" &&
				pod.TopologySpreadConstraints[0].WhenUnsatisfiable == corev1.ScheduleAnyway
		},
		"the image tag defaults to the chart's appVersion": func() bool { return c.Image == "ghcr.io/meshguard/meshguard:v0.1.0" },
		"the pod runs as the non-root user 65532": func() bool {
			return deref(pod.SecurityContext.RunAsNonRoot) && deref(pod.SecurityContext.RunAsUser) == 65532 &&
				deref(c.SecurityContext.RunAsNonRoot) && deref(c.SecurityContext.RunAsUser) == 65532
		},
		"the root filesystem is read-only": func() bool { return deref(c.SecurityContext.ReadOnlyRootFilesystem) },
		"privilege escalation is not allowed": func() bool {
			return c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation
		},
		"every capability is dropped":           func() bool { return slices.Equal(c.SecurityContext.Capabilities.Drop, []corev1.Capability{"ALL"}) },
		"the runtime's default seccomp profile": func() bool { return pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault },
		"no automatic token; a projected, expiring one is mounted instead": func() bool {
			v := volume(pod.Volumes, "kube-api-access")
			return pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken &&
				v != nil && v.Projected != nil && v.Projected.Sources[0].ServiceAccountToken != nil &&
				deref(v.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds) > 0 &&
				mount(c, "kube-api-access") == "/var/run/secrets/kubernetes.io/serviceaccount"
		},
		"the service account does not hand out tokens either": func() bool {
			return m.ServiceAccount.AutomountServiceAccountToken != nil && !*m.ServiceAccount.AutomountServiceAccountToken
		},
		"/tmp is a writable emptyDir": func() bool {
			v := volume(pod.Volumes, "tmp")
			return v != nil && v.EmptyDir != nil && mount(c, "tmp") == "/tmp"
		},
		"the self mode's certificates go to an emptyDir at --cert-dir": func() bool {
			v := volume(pod.Volumes, "certs")
			return v != nil && v.EmptyDir != nil && mount(c, "certs") == "/certs" && args["--cert-dir"][0] == "/certs"
		},
		"resources are requested and memory is limited": func() bool {
			return !c.Resources.Requests.Cpu().IsZero() && !c.Resources.Requests.Memory().IsZero() && !c.Resources.Limits.Memory().IsZero()
		},
		"liveness probes /healthz on the health port": func() bool {
			return c.LivenessProbe.HTTPGet.Path == "/healthz" && c.LivenessProbe.HTTPGet.Port == intstr.FromString("health") && port(c, "health") == 8081
		},
		"readiness probes /readyz on the health port": func() bool {
			return c.ReadinessProbe.HTTPGet.Path == "/readyz" && c.ReadinessProbe.HTTPGet.Port == intstr.FromString("health")
		},
		"the server's ports follow the flags": func() bool {
			return port(c, "webhook") == 9443 && args["--port"][0] == "9443" &&
				port(c, "metrics") == 8080 && args["--metrics-bind-address"][0] == ":8080" &&
				args["--health-probe-bind-address"][0] == ":8081"
		},
		"the grace period outlasts the shutdown delay and the longest review": func() bool {
			return deref(pod.TerminationGracePeriodSeconds) > 5+3 && args["--shutdown-delay"][0] == "5s"
		},
		"the review budget is two thirds of timeoutSeconds": func() bool { return args["--review-timeout"][0] == "2000ms" },
		"the pod namespace comes from the downward API": func() bool {
			e := env(c, "POD_NAMESPACE")
			return e != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
		},
		"enforce mode, exemptions on, mesh by default off": func() bool {
			return args["--mode"][0] == "enforce" && args["--allow-exemptions"][0] == "true" && args["--mesh-by-default"][0] == "false"
		},
		"no per-rule modes when every rule inherits": func() bool { return args["--rule-mode"] == nil },
		"the release namespace is a system namespace for --mesh-by-default": func() bool {
			return args["--system-namespaces"][0] == releaseNS
		},
		"no priority class unless asked":        func() bool { return pod.PriorityClassName == "" },
		"the command is serve":                  func() bool { return c.Args[0] == "serve" },
		"the pods are not annotated by default": func() bool { return len(d.Spec.Template.Annotations) == 0 },
	}
	for name, check := range checks {
		t.Run(name, func(t *testing.T) {
			if !check() {
				t.Errorf("not so in:\n%s", findDoc(m, "kind: Deployment"))
			}
		})
	}
}

func TestDefaultServiceAndDisruptionBudget(t *testing.T) {
	m := render(t, nil)
	checks := map[string]func() bool{
		"the Service sends 443 to the webhook port": func() bool {
			p := servicePort(m.Service, "https-webhook")
			return p != nil && p.Port == 443 && p.TargetPort == intstr.FromString("webhook")
		},
		"the Service exposes metrics": func() bool {
			p := servicePort(m.Service, "http-metrics")
			return p != nil && p.Port == 8080 && p.TargetPort == intstr.FromString("metrics")
		},
		"the Service selects the Deployment's pods": func() bool {
			for k, v := range m.Service.Spec.Selector {
				if m.Deployment.Spec.Template.Labels[k] != v {
					return false
				}
			}
			return len(m.Service.Spec.Selector) > 0
		},
		"a PodDisruptionBudget keeps one replica": func() bool {
			return m.PDB != nil && m.PDB.Spec.MinAvailable.IntValue() == 1 &&
				m.PDB.Spec.Selector.MatchLabels["app.kubernetes.io/instance"] == releaseName
		},
		"no optional objects by default": func() bool {
			return m.NetworkPolicy == nil && len(m.Custom) == 0
		},
	}
	for name, check := range checks {
		t.Run(name, func(t *testing.T) {
			if !check() {
				t.Error("not so")
			}
		})
	}
}

func TestKnobs(t *testing.T) {
	tests := map[string]struct {
		values string
		check  func(*manifests) bool
	}{
		"a digest wins over the tag": {
			values: "image: {digest: sha256:" + strings.Repeat("a", 64) + ", tag: x}",
			check: func(m *manifests) bool {
				return m.Deployment.Spec.Template.Spec.Containers[0].Image == "ghcr.io/meshguard/meshguard@sha256:"+strings.Repeat("a", 64)
			},
		},
		"a tag replaces appVersion": {
			values: "image: {repository: example.com/mg, tag: dev, pullPolicy: Always}",
			check: func(m *manifests) bool {
				c := m.Deployment.Spec.Template.Spec.Containers[0]
				return c.Image == "example.com/mg:dev" && c.ImagePullPolicy == corev1.PullAlways
			},
		},
		"scheduling knobs reach the pod": {
			values: `
priorityClassName: system-cluster-critical
nodeSelector: {pool: infra}
tolerations: [{key: infra, operator: Exists, effect: NoSchedule}]
affinity: {nodeAffinity: {}}
imagePullSecrets: [{name: regcred}]
podAnnotations: {a: b}
podLabels: {team: mesh}`,
			check: func(m *manifests) bool {
				p := m.Deployment.Spec.Template
				return p.Spec.PriorityClassName == "system-cluster-critical" && p.Spec.NodeSelector["pool"] == "infra" &&
					len(p.Spec.Tolerations) == 1 && p.Spec.Affinity != nil && p.Spec.ImagePullSecrets[0].Name == "regcred" &&
					p.Annotations["a"] == "b" && p.Labels["team"] == "mesh"
			},
		},
		"custom topology spread constraints replace the default": {
			values: "topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule}]",
			check: func(m *manifests) bool {
				c := m.Deployment.Spec.Template.Spec.TopologySpreadConstraints
				return len(c) == 1 && c[0].TopologyKey == "topology.kubernetes.io/zone"
			},
		},
		"one replica gets no PodDisruptionBudget, which would block every drain": {
			values: "replicaCount: 1",
			check:  func(m *manifests) bool { return m.PDB == nil },
		},
		"timeoutSeconds 5 gives a budget of 3333ms": {
			values: "timeoutSeconds: 5",
			check: func(m *manifests) bool {
				return m.args(t)["--review-timeout"][0] == "3333ms" && m.webhooks()["namespace.validate.meshguard.dev"].TimeoutSeconds == 5
			},
		},
		"the log level and exemption switch reach the flags": {
			values: "logLevel: debug\nallowExemptions: false",
			check: func(m *manifests) bool {
				a := m.args(t)
				return a["--log-level"][0] == "debug" && a["--allow-exemptions"][0] == "false"
			},
		},
		"a fullnameOverride names everything": {
			values: "fullnameOverride: guard",
			check: func(m *manifests) bool {
				return m.Deployment.Name == "guard" && m.Service.Name == "guard" && m.Validating.Name == "guard" &&
					m.Validating.Webhooks[0].ClientConfig.Service.Name == "guard" && m.args(t)["--webhook-service"][0] == "guard."+releaseNS+".svc"
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if m := render(t, values(t, tc.values)); !tc.check(m) {
				t.Errorf("not so with values:\n%s", tc.values)
			}
		})
	}
}

func volume(vs []corev1.Volume, name string) *corev1.Volume {
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i]
		}
	}
	return nil
}

func mount(c corev1.Container, name string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m.MountPath
		}
	}
	return ""
}

func port(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func servicePort(s *corev1.Service, name string) *corev1.ServicePort {
	for i := range s.Spec.Ports {
		if s.Spec.Ports[i].Name == name {
			return &s.Spec.Ports[i]
		}
	}
	return nil
}

// findDoc returns the rendered document containing marker, for failure output.
func findDoc(m *manifests, marker string) string {
	for _, d := range m.Docs {
		if strings.Contains(d, marker) {
			return d
		}
	}
	return ""
}
