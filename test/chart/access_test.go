package chart

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// TestMetricsAreSecureByDefault: the chart serves /metrics and /report only
// to authenticated, authorised callers unless told otherwise, grants the
// server the reviews that needs, ships the reader role to bind, and points
// the ServiceMonitor at HTTPS with the scraper's token.
func TestMetricsAreSecureByDefault(t *testing.T) {
	for _, secure := range []bool{true, false} {
		vals := "exemptionAuthz: false\nmetrics: {serviceMonitor: {enabled: true}}"
		if !secure {
			vals = "exemptionAuthz: false\nmetrics: {secure: false, serviceMonitor: {enabled: true}}"
		}
		m := render(t, values(t, vals))
		if got, want := m.args(t)["--metrics-secure"][0], map[bool]string{true: "true", false: "false"}[secure]; got != want {
			t.Errorf("secure=%v: --metrics-secure=%s", secure, got)
		}
		auth, reader := clusterRole(m.ClusterRoles, fullname+"-access-reviews"), clusterRole(m.ClusterRoles, fullname+"-metrics-reader")
		if (auth != nil) != secure || (reader != nil) != secure {
			t.Fatalf("secure=%v: metrics-auth %v, metrics-reader %v", secure, auth != nil, reader != nil)
		}
		if secure {
			if len(auth.Rules) != 2 || !slices.Contains(auth.Rules[0].Resources, "tokenreviews") || !slices.Contains(auth.Rules[1].Resources, "subjectaccessreviews") {
				t.Errorf("metrics-auth rules = %+v, want tokenreviews and subjectaccessreviews", auth.Rules)
			}
			if len(reader.Rules) != 1 || !slices.Equal(reader.Rules[0].NonResourceURLs, []string{"/metrics", "/report"}) || !slices.Equal(reader.Rules[0].Verbs, []string{"get"}) {
				t.Errorf("metrics-reader rules = %+v, want get on /metrics and /report", reader.Rules)
			}
		}
		sm := m.Custom["ServiceMonitor"]
		if len(sm) != 1 {
			t.Fatalf("%d ServiceMonitors", len(sm))
		}
		endpoints, _ := sm[0]["spec"].(map[string]any)["endpoints"].([]any)
		ep, _ := endpoints[0].(map[string]any)
		if (ep["scheme"] == "https") != secure || (ep["bearerTokenFile"] != nil) != secure {
			t.Errorf("secure=%v: ServiceMonitor endpoint %v", secure, ep)
		}
	}
}

// TestExemptionAuthzByDefault: exemptions need a permission unless told
// otherwise; the chart ships the role that grants it and lets the server
// ask the API server.
func TestExemptionAuthzByDefault(t *testing.T) {
	m := render(t, nil)
	if got := m.args(t)["--exemption-authz"][0]; got != "true" {
		t.Errorf("--exemption-authz=%s, want true by default", got)
	}
	exempt := clusterRole(m.ClusterRoles, fullname+"-exempt")
	if exempt == nil || len(exempt.Rules) != 1 || !slices.Equal(exempt.Rules[0].APIGroups, []string{"meshguard.dev"}) ||
		!slices.Equal(exempt.Rules[0].Resources, []string{"rules"}) || !slices.Equal(exempt.Rules[0].Verbs, []string{"exempt"}) {
		t.Errorf("%s-exempt = %+v, want verb exempt on rules.meshguard.dev", fullname, exempt)
	}
	reviews := clusterRole(m.ClusterRoles, fullname+"-access-reviews")
	if reviews == nil || !slices.ContainsFunc(reviews.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "subjectaccessreviews") }) {
		t.Errorf("the server may not create SubjectAccessReviews: %+v", reviews)
	}
	off := render(t, values(t, "exemptionAuthz: false\nmetrics: {secure: false}"))
	if clusterRole(off.ClusterRoles, fullname+"-exempt") != nil || clusterRole(off.ClusterRoles, fullname+"-access-reviews") != nil {
		t.Error("without exemptionAuthz and secure metrics the chart still grants access reviews or ships the exempt role")
	}
}

// TestEventsByDefault: the webhook records Events, with a role that can
// only create and patch them; off, neither flag nor role remains.
func TestEventsByDefault(t *testing.T) {
	m := render(t, nil)
	if got := m.args(t)["--events"]; len(got) != 1 || got[0] != "true" {
		t.Errorf("--events=%v, want true by default", got)
	}
	ev := clusterRole(m.ClusterRoles, fullname+"-events")
	if ev == nil || len(ev.Rules) != 1 || !slices.Equal(ev.Rules[0].APIGroups, []string{"events.k8s.io"}) ||
		!slices.Equal(ev.Rules[0].Resources, []string{"events"}) || !slices.Equal(ev.Rules[0].Verbs, []string{"create", "patch"}) {
		t.Errorf("%s-events = %+v, want create and patch on events.k8s.io events only", fullname, ev)
	}
	off := render(t, values(t, "events: false"))
	if got := off.args(t)["--events"]; len(got) != 1 || got[0] != "false" {
		t.Errorf("events: false gives --events=%v", got)
	}
	if clusterRole(off.ClusterRoles, fullname+"-events") != nil {
		t.Error("events: false still grants the events role")
	}
}
