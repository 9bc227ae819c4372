package certs

import (
	"net/http"
	"net/url"
	"testing"

	"k8s.io/client-go/rest"
)

// recorder captures the request that reaches the next RoundTripper.
type recorder struct{ got *http.Request }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = req
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

func TestNameScope(t *testing.T) {
	paths := collectionPaths(validSelf())
	tests := map[string]struct {
		method, url  string
		wantSelector string // "" means the query is left alone
		wantLabels   string // the label selector wanted; "" means none
	}{
		"a list of the namespace's secrets selects the one secret": {
			method: http.MethodGet, url: "https://api/api/v1/namespaces/meshguard/secrets?limit=500&resourceVersion=0", wantSelector: "metadata.name=meshguard-tls",
		},
		"a watch of validating configurations selects meshguard's": {
			method: http.MethodGet, url: "https://api/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations?watch=true", wantSelector: "metadata.name=meshguard", wantLabels: "meshguard.dev/self-ca!=false",
		},
		"a configuration's own label selector is kept and narrowed": {
			method: http.MethodGet, url: "https://api/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations?labelSelector=a%3Db", wantSelector: "metadata.name=meshguard", wantLabels: "a=b,meshguard.dev/self-ca!=false",
		},
		"a watch of mutating configurations selects meshguard's": {
			method: http.MethodGet, url: "https://api/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations?watch=true", wantSelector: "metadata.name=meshguard", wantLabels: "meshguard.dev/self-ca!=false",
		},
		"an existing field selector is kept and narrowed": {
			method: http.MethodGet, url: "https://api/api/v1/namespaces/meshguard/secrets?fieldSelector=type%3DOpaque", wantSelector: "type=Opaque,metadata.name=meshguard-tls",
		},
		"the same selector is not repeated": {
			method: http.MethodGet, url: "https://api/api/v1/namespaces/meshguard/secrets?fieldSelector=metadata.name%3Dmeshguard-tls", wantSelector: "metadata.name=meshguard-tls",
		},
		"a host with a path prefix is matched by suffix": {
			method: http.MethodGet, url: "https://api/prefix/api/v1/namespaces/meshguard/secrets", wantSelector: "metadata.name=meshguard-tls",
		},
		"a get of one secret by name is left alone":             {method: http.MethodGet, url: "https://api/api/v1/namespaces/meshguard/secrets/meshguard-tls"},
		"secrets of another namespace are left alone":           {method: http.MethodGet, url: "https://api/api/v1/namespaces/other/secrets"},
		"an update is left alone":                               {method: http.MethodPut, url: "https://api/api/v1/namespaces/meshguard/secrets/meshguard-tls"},
		"other collections, such as namespaces, are left alone": {method: http.MethodGet, url: "https://api/api/v1/namespaces"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			next := &recorder{}
			req, err := http.NewRequest(tc.method, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			before := req.URL.String()
			if _, err := (nameScope{next: next, names: paths}).RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != before {
				t.Errorf("the caller's request was modified: %s", req.URL)
			}
			q, _ := url.ParseQuery(next.got.URL.RawQuery)
			orig, _ := url.ParseQuery(req.URL.RawQuery)
			want := tc.wantSelector
			if want == "" {
				want = orig.Get("fieldSelector")
			}
			if got := q.Get("fieldSelector"); got != want {
				t.Errorf("fieldSelector = %q, want %q", got, want)
			}
			if got := q.Get("labelSelector"); got != tc.wantLabels {
				t.Errorf("labelSelector = %q, want %q", got, tc.wantLabels)
			}
			for k := range orig {
				if k != "fieldSelector" && k != "labelSelector" && q.Get(k) != orig.Get(k) {
					t.Errorf("query %s = %q, want %q kept", k, q.Get(k), orig.Get(k))
				}
			}
		})
	}
}

func TestScopedConfigLeavesTheOriginalAlone(t *testing.T) {
	orig := &rest.Config{Host: "https://api"}
	base := scopedConfig(orig, collectionPaths(validSelf()))
	if orig.WrapTransport != nil {
		t.Fatal("scopedConfig changed the config it was given")
	}
	if base.WrapTransport == nil {
		t.Fatal("scopedConfig returned a config without the scoping transport")
	}
}
