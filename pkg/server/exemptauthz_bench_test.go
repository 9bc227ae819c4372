package server

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshguard/meshguard/pkg/access"
	"github.com/meshguard/meshguard/pkg/policy"
)

// denier denies every object it reviews.
type denier struct{}

func (denier) ID() string { return "ingress-in-mesh" }
func (denier) Match() policy.Match {
	return policy.One(policy.Kind{Group: "networking.k8s.io", Versions: []string{"v1"}, Resource: "ingresses", Kind: "Ingress"}, policy.Writes, false)
}
func (denier) Validate(context.Context, *policy.Request) ([]policy.Finding, error) {
	return []policy.Finding{policy.Deny("no")}, nil
}

// BenchmarkExemptionReview: what --exemption-authz adds to a review. An
// object without the exempt annotation costs the same with or without it
// (no SubjectAccessReview is asked); an exempted one adds a lookup in the
// cache of SubjectAccessReview answers (the first request asks the API
// server, a fake here, and is not what this measures).
//
//	go test ./pkg/server -run '^$' -bench BenchmarkExemptionReview -count 6
func BenchmarkExemptionReview(b *testing.B) {
	plain := []byte(`{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"web","namespace":"shop"}}`)
	exempted := []byte(`{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"web","namespace":"shop","annotations":{"meshguard.dev/exempt":"ingress-in-mesh","meshguard.dev/exempt-reason":"GCLB until the gateway is ready"}}}`)
	cs := fake.NewClientset()
	cs.PrependReactor("create", "subjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authorizationv1.SubjectAccessReview{Status: authorizationv1.SubjectAccessReviewStatus{Allowed: true}}, nil
	})
	authz := exemptionAuthz{access.NewReviewer(cs)}
	for _, v := range []struct {
		name    string
		object  []byte
		authz   policy.ExemptionAuthorizer
		allowed bool
	}{
		{"plain", plain, nil, false},
		{"plain-authz", plain, authz, false},
		{"exempt", exempted, nil, true},
		{"exempt-authz", exempted, authz, true},
	} {
		b.Run(v.name, func(b *testing.B) {
			e := policy.NewEngine(policy.Config{Rules: policy.Rules{Validating: []policy.Validator{denier{}}},
				Modes: policy.Modes{Default: policy.Enforce}, AllowExemptions: true, ExemptionAuthz: v.authz, Log: logr.Discard()})
			review := func() *admissionv1.AdmissionResponse {
				req := policy.NewRequest(&admissionv1.AdmissionRequest{
					UID: "1", Operation: admissionv1.Create, Namespace: "shop", Name: "web",
					Kind:     metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
					UserInfo: authenticationv1.UserInfo{Username: "alice"},
					Object:   runtime.RawExtension{Raw: v.object},
				})
				resp, err := e.Review(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				return resp
			}
			// The first review fills the SubjectAccessReview cache, and shows
			// the variant decides what it claims to.
			if resp := review(); resp.Allowed != v.allowed {
				b.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, v.allowed, resp.Result)
			}
			b.ReportAllocs()
			for b.Loop() {
				review()
			}
		})
	}
}
