package convert

import (
	"encoding/json"
	"fmt"

	"github.com/meshguard/meshguard/pkg/check"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Input is what Convert reads: Ingresses, and the Services and
// IngressClasses that help to read them.
type Input struct {
	Ingresses []*networkingv1.Ingress
	// Services resolve backends that name a port instead of numbering it.
	Services []*corev1.Service
	// IngressClasses resolve spec.ingressClassName to a controller.
	IngressClasses []*networkingv1.IngressClass
	// Retired holds the API version of each Ingress read from one that
	// Kubernetes removed (extensions/v1beta1, networking.k8s.io/v1beta1).
	Retired map[*networkingv1.Ingress]string
}

// DocError names the document of a file that could not be read.
type DocError = check.DocError

// Read adds the Ingresses, Services and IngressClasses of one file (YAML
// documents separated by "---", or JSON values; List kinds are expanded) to
// in, read as `webhook check` reads files. Objects of other kinds are
// skipped. The first document that cannot be read is returned as a
// *DocError naming file (the name used in messages).
func (in *Input) Read(file string, data []byte) error {
	f := check.Parse(check.Input{Name: file, Data: data})
	if len(f.Errors) > 0 {
		return f.Errors[0]
	}
	for _, o := range f.Objects {
		if err := in.Add(o.APIVersion, o.Kind, o.JSON()); err != nil {
			return &DocError{File: file, DocumentIndex: o.DocumentIndex, Item: o.Item, Line: o.Line, Err: err}
		}
	}
	return nil
}

// Add keeps an object of apiVersion and kind, given as JSON, if it is an
// Ingress, a Service or an IngressClass; other kinds are skipped.
func (in *Input) Add(apiVersion, kind string, j []byte) error {
	h := struct{ APIVersion, Kind string }{apiVersion, kind}
	switch {
	case h.Kind == "Ingress" && (h.APIVersion == "networking.k8s.io/v1" || check.RetiredIngress(h.APIVersion)):
		if check.RetiredIngress(h.APIVersion) {
			var err error
			if j, err = check.IngressV1(j); err != nil {
				return fmt.Errorf("Ingress (%s) does not decode: %v", h.APIVersion, err)
			}
		}
		ing := &networkingv1.Ingress{}
		if err := json.Unmarshal(j, ing); err != nil {
			return fmt.Errorf("Ingress does not decode as %s: %v", h.APIVersion, err)
		}
		in.Ingresses = append(in.Ingresses, ing)
		if check.RetiredIngress(h.APIVersion) {
			if in.Retired == nil {
				in.Retired = map[*networkingv1.Ingress]string{}
			}
			in.Retired[ing] = h.APIVersion
		}
	case h.Kind == "Service" && h.APIVersion == "v1":
		svc := &corev1.Service{}
		if err := json.Unmarshal(j, svc); err != nil {
			return fmt.Errorf("Service does not decode: %v", err)
		}
		in.Services = append(in.Services, svc)
	case h.Kind == "IngressClass" && h.APIVersion == "networking.k8s.io/v1":
		ic := &networkingv1.IngressClass{}
		if err := json.Unmarshal(j, ic); err != nil {
			return fmt.Errorf("IngressClass does not decode: %v", err)
		}
		in.IngressClasses = append(in.IngressClasses, ic)
	}
	return nil
}
