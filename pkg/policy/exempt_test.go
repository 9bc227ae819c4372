package policy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// authz answers MayExempt as told and counts the questions.
type authz struct {
	allow bool
	err   error
	asked int
}

func (a *authz) MayExempt(_ context.Context, _ authenticationv1.UserInfo, rule, namespace string) (bool, error) {
	a.asked++
	if rule != "denier" || namespace != "shop" {
		return false, errors.New("asked about the wrong rule or namespace")
	}
	return a.allow, a.err
}

func TestExemptionsNeedPermissionUnderExemptionAuthz(t *testing.T) {
	exempted := strings.Replace(cm, "  namespace: shop\n", "  namespace: shop\n  annotations:\n    meshguard.dev/exempt: denier\n    meshguard.dev/exempt-reason: migration window\n", 1)
	tests := map[string]struct {
		authz       authz
		op          admissionv1.Operation
		obj, old    string
		wantAllowed bool
		wantCode    int
		wantAsked   int
		wantMessage string
	}{
		"no exemption asked: nobody is asked":               {op: admissionv1.Create, obj: cm, wantCode: http.StatusOK, wantAsked: 0, wantMessage: "[denier] no"},
		"a permitted user's exemption is honoured":          {authz: authz{allow: true}, op: admissionv1.Create, obj: exempted, wantAllowed: true, wantCode: http.StatusOK, wantAsked: 1},
		"an unpermitted user's exemption is not":            {op: admissionv1.Create, obj: exempted, wantCode: http.StatusOK, wantAsked: 1, wantMessage: "may not grant it: exempting needs verb exempt on rules.meshguard.dev, name denier, in namespace \"shop\"; ask an admin to bind the chart's ClusterRole meshguard-exempt there"},
		"an unanswerable question fails the review":         {authz: authz{err: errors.New("SubjectAccessReview timed out")}, op: admissionv1.Create, obj: exempted, wantCode: http.StatusInternalServerError, wantAsked: 1},
		"an update keeping the exemption needs no one":      {op: admissionv1.Update, obj: exempted, old: exempted, wantAllowed: true, wantCode: http.StatusOK, wantAsked: 0},
		"an update adding the exemption needs a permission": {op: admissionv1.Update, obj: exempted, old: cm, wantCode: http.StatusOK, wantAsked: 1, wantMessage: "may not grant it"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := tc.authz
			e := policy.NewEngine(policy.Config{Rules: mutating(stubRule{"denier", finds(policy.Deny("no"))}), Modes: policy.Modes{Default: policy.Enforce},
				AllowExemptions: true, ExemptionAuthz: &a, Log: logr.Discard()})
			h := &review.Handler{Reviewer: e, Log: logr.Discard()}
			req := reviewtest.Req{Op: tc.op, Object: []byte(tc.obj)}
			if tc.old != "" {
				req.OldObject = []byte(tc.old)
			}
			code, resp := reviewtest.Post(t, h, reviewtest.Review(t, req))
			if code != tc.wantCode {
				t.Fatalf("HTTP %d, want %d", code, tc.wantCode)
			}
			if a.asked != tc.wantAsked {
				t.Errorf("asked %d times, want %d", a.asked, tc.wantAsked)
			}
			if code != http.StatusOK {
				return
			}
			if resp.Allowed != tc.wantAllowed {
				t.Errorf("allowed = %v, want %v: %+v", resp.Allowed, tc.wantAllowed, resp.Result)
			}
			if tc.wantMessage != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, tc.wantMessage)) {
				t.Errorf("message %+v lacks %q", resp.Result, tc.wantMessage)
			}
		})
	}
}
