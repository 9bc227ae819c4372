package validate

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/meshguard/meshguard/pkg/mesh"
	"github.com/meshguard/meshguard/pkg/policy"
)

// Pod annotations Istio's sidecar injector reads.
const (
	RewriteProbesAnnotation = "sidecar.istio.io/rewriteAppHTTPProbers"
	injectAnnotation        = "sidecar.istio.io/inject"
	excludeInboundPorts     = "traffic.sidecar.istio.io/excludeInboundPorts"
)

// maxProbesNamed bounds how many probes one warning names.
const maxProbesNamed = 6

// PeerAuthentications lists the PeerAuthentications of namespaces.
type PeerAuthentications interface {
	PeerAuthentications(ctx context.Context, namespaces ...string) ([]mesh.PeerAuthentication, error)
}

// ProbeRewriteDisabled warns when a pod template turns Istio's probe
// rewriting off (sidecar.istio.io/rewriteAppHTTPProbers: "false") and has an
// HTTP or gRPC probe on a port that requires mutual TLS: the kubelet's
// plain-text probes then reach a sidecar that refuses them, and the pods
// never become ready. It never denies: the object may be right for reasons
// the rule cannot see. Objects a controller owns (the ReplicaSets of a
// Deployment, the Pods of a ReplicaSet or Job, the Jobs of a CronJob) are
// left to their owner, so one template is reported once.
type ProbeRewriteDisabled struct {
	Namespaces mesh.Namespaces
	Peers      PeerAuthentications
	Mesh       mesh.Options
	// RootNamespace is Istio's meshConfig.rootNamespace ("istio-system"
	// when empty), where a PeerAuthentication without a selector applies
	// mesh-wide.
	RootNamespace string
}

// workloadDoc holds the pod template of every kind the rule reviews: a Pod's
// own spec, spec.template of the workload controllers, and a CronJob's
// spec.jobTemplate.spec.template.
type workloadDoc struct {
	policy.ObjectHead
	Spec struct {
		Containers     []container  `json:"containers"`
		InitContainers []container  `json:"initContainers"`
		Template       *podTemplate `json:"template"`
		JobTemplate    *struct {
			Spec struct {
				Template *podTemplate `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

type podTemplate struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Containers     []container `json:"containers"`
		InitContainers []container `json:"initContainers"`
	} `json:"spec"`
}

type container struct {
	Name  string `json:"name"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int32  `json:"containerPort"`
	} `json:"ports"`
	LivenessProbe  *probe `json:"livenessProbe"`
	ReadinessProbe *probe `json:"readinessProbe"`
	StartupProbe   *probe `json:"startupProbe"`
}

type probe struct {
	HTTPGet *struct {
		Port any    `json:"port"`
		Path string `json:"path"`
	} `json:"httpGet"`
	GRPC *struct {
		Port int32 `json:"port"`
	} `json:"grpc"`
}

// workloadKinds are the kinds whose pod templates the rule reads.
var workloadKinds = []policy.Kind{
	{Group: "apps", Versions: []string{"v1"}, Resource: "deployments", Kind: "Deployment"},
	{Group: "apps", Versions: []string{"v1"}, Resource: "statefulsets", Kind: "StatefulSet"},
	{Group: "apps", Versions: []string{"v1"}, Resource: "daemonsets", Kind: "DaemonSet"},
	{Group: "apps", Versions: []string{"v1"}, Resource: "replicasets", Kind: "ReplicaSet"},
	{Group: "batch", Versions: []string{"v1"}, Resource: "jobs", Kind: "Job"},
	{Group: "batch", Versions: []string{"v1"}, Resource: "cronjobs", Kind: "CronJob"},
	{Versions: []string{"v1"}, Resource: "pods", Kind: "Pod"},
}

// ID implements policy.Rule.
func (ProbeRewriteDisabled) ID() string { return "probe-rewrite-disabled" }

// Match implements policy.Rule: pod templates of the workload kinds and
// bare Pods, CREATE and UPDATE, in mesh-enabled namespaces.
func (ProbeRewriteDisabled) Match() policy.Match {
	return policy.Match{Kinds: workloadKinds, Operations: policy.Writes, MeshOnly: true}
}

// Validate implements policy.Validator.
func (r ProbeRewriteDisabled) Validate(ctx context.Context, req *policy.Request) ([]policy.Finding, error) {
	var doc workloadDoc
	if err := req.Decode(&doc); err != nil {
		return nil, err
	}
	tpl := doc.template(req.Kind.Kind)
	if tpl == nil || doc.Metadata.Controlled() || !isFalse(tpl.Metadata.Annotations, RewriteProbesAnnotation) || isFalse(tpl.Metadata.Annotations, injectAnnotation) {
		return nil, nil
	}
	probes := tpl.plainProbes()
	if len(probes) == 0 {
		return nil, nil
	}
	status, err := mesh.Lookup(ctx, r.Namespaces, req.Namespace, r.Mesh)
	if err != nil || !status.Meshed {
		return nil, err
	}
	root := r.RootNamespace
	if root == "" {
		root = mesh.DefaultRootNamespace
	}
	pas, err := r.Peers.PeerAuthentications(ctx, req.Namespace, root)
	if err != nil {
		return nil, err
	}
	var refused []string
	from := ""
	for _, p := range probes {
		m := mesh.InboundMTLS(pas, req.Namespace, root, tpl.Metadata.Labels, p.port)
		if m.Mode == mesh.MTLSStrict {
			refused = append(refused, p.desc)
			from = m.From
		}
	}
	if len(refused) == 0 {
		return nil, nil
	}
	named := strings.Join(refused[:min(len(refused), maxProbesNamed)], "; ")
	if extra := len(refused) - maxProbesNamed; extra > 0 {
		named += fmt.Sprintf("; and %d more", extra)
	}
	return []policy.Finding{policy.Warn(fmt.Sprintf(
		"%s %q in namespace %q sets %s: \"false\", so the kubelet probes its containers in plain text, but their ports require mutual TLS (PeerAuthentication %s, mode STRICT) and the sidecar refuses the probes: the pods never become ready (%s); drop the annotation so Istio rewrites the probes through the sidecar, or probe a port excluded from mTLS (portLevelMtls DISABLE, or %s)",
		req.Kind.Kind, doc.Metadata.DisplayName(), req.Namespace, RewriteProbesAnnotation, from, named, excludeInboundPorts))}, nil
}

// template returns the pod template of the object, nil when it has none.
func (d *workloadDoc) template(kind string) *podTemplate {
	switch {
	case kind == "Pod":
		t := &podTemplate{}
		t.Metadata.Labels, t.Metadata.Annotations = d.Metadata.Labels, d.Metadata.Annotations
		t.Spec.Containers, t.Spec.InitContainers = d.Spec.Containers, d.Spec.InitContainers
		return t
	case kind == "CronJob" && d.Spec.JobTemplate != nil:
		return d.Spec.JobTemplate.Spec.Template
	}
	return d.Spec.Template
}

// plainProbe is an HTTP or gRPC probe the kubelet sends in plain text.
type plainProbe struct {
	port uint32 // 0 when a named port is not declared by the container
	desc string
}

// plainProbes lists the template's HTTP and gRPC probes, leaving out those
// on ports excluded from the sidecar's inbound capture.
func (t *podTemplate) plainProbes() []plainProbe {
	excluded := map[uint32]bool{}
	for p := range strings.SplitSeq(t.Metadata.Annotations[excludeInboundPorts], ",") {
		if n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 32); err == nil {
			excluded[uint32(n)] = true
		}
	}
	var out []plainProbe
	for _, cs := range [][]container{t.Spec.InitContainers, t.Spec.Containers} {
		for _, c := range cs {
			for _, named := range []struct {
				field string
				p     *probe
			}{{"startupProbe", c.StartupProbe}, {"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}} {
				if named.p == nil {
					continue
				}
				port, how := c.probePort(named.p)
				if how == "" || excluded[port] && port != 0 {
					continue
				}
				out = append(out, plainProbe{port: port, desc: fmt.Sprintf("container %q %s (%s)", c.Name, named.field, how)})
			}
		}
	}
	return out
}

// probePort resolves a probe's port and describes it; how is empty for a
// probe that is neither HTTP nor gRPC (exec, tcpSocket).
func (c *container) probePort(p *probe) (port uint32, how string) {
	switch {
	case p.HTTPGet != nil:
		switch v := p.HTTPGet.Port.(type) {
		case float64:
			port = uint32(v)
		case string:
			if n, err := strconv.ParseUint(v, 10, 32); err == nil {
				port = uint32(n)
			}
			for _, cp := range c.Ports {
				if cp.Name == v {
					port = uint32(cp.ContainerPort)
				}
			}
		}
		return port, fmt.Sprintf("httpGet %s on port %v", p.HTTPGet.Path, p.HTTPGet.Port)
	case p.GRPC != nil:
		return uint32(p.GRPC.Port), fmt.Sprintf("grpc on port %d", p.GRPC.Port)
	}
	return 0, ""
}

// isFalse reads an annotation as Istio's injector does (strconv.ParseBool):
// "false", "0", "f" and their capitalisations turn the setting off.
func isFalse(annotations map[string]string, key string) bool {
	v, ok := annotations[key]
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err == nil && !b
}
