package convert

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The Istio objects of TargetIstio, as small local types with the JSON
// names of networking.istio.io/v1, so that the webhook's module does not
// depend on istio.io/api. Only the fields the conversion writes are here.

// Istio names the output uses.
const (
	// IstioAPIVersion is the apiVersion of the Istio objects.
	IstioAPIVersion = "networking.istio.io/v1"
	// IstioSelector is the value of the istio label the Istio Gateway
	// selects: the default istio-ingressgateway deployment.
	IstioSelector = "ingressgateway"
	// IstioGatewayNamespace is where that deployment runs, and so where
	// the Secrets its servers' credentialName name must live.
	IstioGatewayNamespace = "istio-system"
	// ClusterDomain ends the destination hosts: <svc>.<ns>.svc.cluster.local.
	ClusterDomain = "cluster.local"
)

// IstioGateway is a networking.istio.io/v1 Gateway.
type IstioGateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              IstioGatewaySpec `json:"spec"`
}

// IstioGatewaySpec is the spec of an IstioGateway.
type IstioGatewaySpec struct {
	Selector map[string]string `json:"selector"`
	Servers  []IstioServer     `json:"servers"`
}

// IstioServer is one server of an IstioGateway.
type IstioServer struct {
	Port  IstioPort       `json:"port"`
	Hosts []string        `json:"hosts"`
	TLS   *IstioServerTLS `json:"tls,omitempty"`
}

// IstioPort is a server's port.
type IstioPort struct {
	Number   uint32 `json:"number"`
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
}

// IstioServerTLS is a server's tls: httpsRedirect on a plain HTTP server,
// SIMPLE with credentialName on an HTTPS one.
type IstioServerTLS struct {
	HTTPSRedirect  bool   `json:"httpsRedirect,omitempty"`
	Mode           string `json:"mode,omitempty"`
	CredentialName string `json:"credentialName,omitempty"`
}

// VirtualService is a networking.istio.io/v1 VirtualService.
type VirtualService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              VirtualServiceSpec `json:"spec"`
}

// VirtualServiceSpec is the spec of a VirtualService.
type VirtualServiceSpec struct {
	Hosts    []string         `json:"hosts"`
	Gateways []string         `json:"gateways"`
	HTTP     []IstioHTTPRoute `json:"http"`
}

// IstioHTTPRoute is one http route: any of its matches selects it; it
// routes to one destination or answers directly.
type IstioHTTPRoute struct {
	Match          []IstioHTTPMatch     `json:"match,omitempty"`
	Rewrite        *IstioRewrite        `json:"rewrite,omitempty"`
	Route          []IstioRouteDest     `json:"route,omitempty"`
	DirectResponse *IstioDirectResponse `json:"directResponse,omitempty"`
}

// IstioHTTPMatch matches the request's path.
type IstioHTTPMatch struct {
	URI IstioStringMatch `json:"uri"`
}

// IstioStringMatch holds one of exact, prefix and regex.
type IstioStringMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// IstioRewrite rewrites the path: uri replaces the matched prefix (the
// whole path of an exact match), uriRegexRewrite what its regex matches.
type IstioRewrite struct {
	URI             string             `json:"uri,omitempty"`
	URIRegexRewrite *IstioRegexRewrite `json:"uriRegexRewrite,omitempty"`
}

// IstioRegexRewrite is a regex and its replacement.
type IstioRegexRewrite struct {
	Match   string `json:"match"`
	Rewrite string `json:"rewrite"`
}

// IstioRouteDest is a route's destination.
type IstioRouteDest struct {
	Destination IstioDestination `json:"destination"`
}

// IstioDestination is a Service host and port.
type IstioDestination struct {
	Host string            `json:"host"`
	Port IstioPortSelector `json:"port"`
}

// IstioPortSelector selects a Service port by number.
type IstioPortSelector struct {
	Number uint32 `json:"number"`
}

// IstioDirectResponse answers without a backend.
type IstioDirectResponse struct {
	Status uint32 `json:"status"`
}
