package policy_test

import (
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshguard/meshguard/internal/reviewtest"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/review"
)

// heard records what the engine tells its EventSink.
type heard struct{ got []string }

func (h *heard) WouldAct(req *policy.Request, rule string, d policy.Decision, message string) {
	h.got = append(h.got, req.Namespace+"/"+req.Name+" "+rule+" "+string(d)+" "+message)
}

// TestEventsHearOnlyWhatAuditModeLetsThrough: the sink hears a would-deny
// on a real write in audit mode, and nothing in enforce mode (the user sees
// the denial) or on a dry run (nothing is written).
func TestEventsHearOnlyWhatAuditModeLetsThrough(t *testing.T) {
	for name, tc := range map[string]struct {
		mode   policy.Mode
		dryRun bool
		want   int
	}{
		"audit":         {mode: policy.Audit, want: 1},
		"audit dry run": {mode: policy.Audit, dryRun: true},
		"enforce":       {mode: policy.Enforce},
	} {
		t.Run(name, func(t *testing.T) {
			h := &heard{}
			e := policy.NewEngine(policy.Config{Rules: mutating(stubRule{"denier", finds(policy.Deny("no"))}),
				Modes: policy.Modes{Default: tc.mode}, Events: h, Log: logr.Discard()})
			reviewtest.Post(t, &review.Handler{Reviewer: e, Log: logr.Discard()},
				reviewtest.Review(t, reviewtest.Req{Op: admissionv1.Create, Object: []byte(cm), DryRun: tc.dryRun}))
			if len(h.got) != tc.want {
				t.Fatalf("heard %q, want %d", h.got, tc.want)
			}
			if tc.want == 1 && h.got[0] != "shop/web denier would_deny no" {
				t.Errorf("heard %q", h.got[0])
			}
		})
	}
}
