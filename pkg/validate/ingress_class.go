package validate

import (
	"context"
	"fmt"
)

// Names Istio uses for its own Ingress controller.
const (
	IngressClassAnnotation   = "kubernetes.io/ingress.class"
	IstioIngressController   = "istio.io/ingress-controller"
	IstioIngressClass        = "istio"
	GlobalStaticIPAnnotation = "kubernetes.io/ingress.global-static-ip-name"
)

// IngressClasses resolves an IngressClass to its controller.
type IngressClasses interface {
	IngressClassController(ctx context.Context, name string) (controller string, found bool, err error)
}

// servedBy says who serves an Ingress, in words a message can quote.
type servedBy struct {
	istio bool
	desc  string
}

// classResolver applies Istio's own precedence: the kubernetes.io/ingress.class
// annotation wins, then spec.ingressClassName through the IngressClass's
// controller; with neither, the cluster's default controller takes the Ingress
// (on GKE the GCE load balancer), not Istio.
type classResolver struct {
	classes IngressClasses
}

func (c classResolver) resolve(ctx context.Context, annotations map[string]string, className *string) (servedBy, error) {
	if class, ok := annotations[IngressClassAnnotation]; ok {
		return servedBy{
			istio: class == IstioIngressClass,
			desc:  fmt.Sprintf("%q (annotation %s)", class, IngressClassAnnotation),
		}, nil
	}
	if className == nil || *className == "" {
		return servedBy{desc: "the cluster's default Ingress controller (no ingress class is set; on GKE that is the GCE load balancer)"}, nil
	}
	controller, found, err := c.classes.IngressClassController(ctx, *className)
	if err != nil {
		return servedBy{}, err
	}
	if !found {
		return servedBy{desc: fmt.Sprintf("IngressClass %q, which does not exist, so Istio does not serve it", *className)}, nil
	}
	return servedBy{
		istio: controller == IstioIngressController,
		desc:  fmt.Sprintf("IngressClass %q (controller %s)", *className, controller),
	}, nil
}

// sameClass reports whether two Ingress versions ask for the same class, so an
// update that only touches metadata can be told from one that moves the Ingress.
func sameClass(oldAnn, newAnn map[string]string, oldName, newName *string) bool {
	oa, oldHas := oldAnn[IngressClassAnnotation]
	na, newHas := newAnn[IngressClassAnnotation]
	return oldHas == newHas && oa == na && deref(oldName) == deref(newName)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
