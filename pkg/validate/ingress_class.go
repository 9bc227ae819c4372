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

// Istio's meshConfig.ingressControllerMode values.
const (
	// IngressModeStrict (Istio's default): Istio serves Ingresses whose
	// class annotation is meshConfig.ingressClass, or whose IngressClass
	// names its controller.
	IngressModeStrict = "STRICT"
	// IngressModeDefault: as STRICT, and Istio also serves Ingresses that
	// name no class (or an IngressClass that does not exist).
	IngressModeDefault = "DEFAULT"
	// IngressModeOff: Istio serves no Ingress by annotation; an IngressClass
	// naming its controller still counts, as in Istio's own code.
	IngressModeOff = "OFF"
)

// IstioIngress is how the mesh's istiod serves Ingresses, as its mesh
// config says; the zero value is Istio's default.
type IstioIngress struct {
	// Class is meshConfig.ingressClass, the kubernetes.io/ingress.class
	// annotation value Istio serves ("istio" when empty).
	Class string
	// Mode is meshConfig.ingressControllerMode (STRICT when empty).
	Mode string
}

func (i IstioIngress) class() string {
	if i.Class == "" {
		return IstioIngressClass
	}
	return i.Class
}

func (i IstioIngress) mode() string {
	if i.Mode == "" {
		return IngressModeStrict
	}
	return i.Mode
}

// IngressClasses resolves an IngressClass to its controller.
type IngressClasses interface {
	IngressClassController(ctx context.Context, name string) (controller string, found bool, err error)
}

// servedBy says who serves an Ingress, in words a message can quote.
type servedBy struct {
	istio bool
	desc  string
}

// classResolver applies Istio's own precedence (shouldProcessIngressWithClass
// in pilot/pkg/config/kube/ingress): the kubernetes.io/ingress.class
// annotation wins, then spec.ingressClassName through the IngressClass's
// controller; with neither, Istio serves the Ingress only in DEFAULT mode,
// and otherwise the cluster's default controller takes it (on GKE the GCE
// load balancer).
type classResolver struct {
	classes IngressClasses
	istio   IstioIngress
}

func (c classResolver) resolve(ctx context.Context, annotations map[string]string, className *string) (servedBy, error) {
	if class, ok := annotations[IngressClassAnnotation]; ok {
		by := servedBy{
			istio: class == c.istio.class() && c.istio.mode() != IngressModeOff,
			desc:  fmt.Sprintf("%q (annotation %s)", class, IngressClassAnnotation),
		}
		if class == c.istio.class() && !by.istio {
			by.desc += ", which Istio ignores: its ingressControllerMode is OFF"
		}
		return by, nil
	}
	unclassed := "the cluster's default Ingress controller (no ingress class is set; on GKE that is the GCE load balancer)"
	if className != nil && *className != "" {
		controller, found, err := c.classes.IngressClassController(ctx, *className)
		if err != nil {
			return servedBy{}, err
		}
		if found {
			return servedBy{
				istio: controller == IstioIngressController,
				desc:  fmt.Sprintf("IngressClass %q (controller %s)", *className, controller),
			}, nil
		}
		unclassed = fmt.Sprintf("IngressClass %q, which does not exist, so Istio does not serve it", *className)
	}
	if c.istio.mode() == IngressModeDefault {
		return servedBy{istio: true, desc: "no known ingress class, which Istio serves in ingressControllerMode DEFAULT"}, nil
	}
	return servedBy{desc: unclassed}, nil
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
