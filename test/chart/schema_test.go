package chart

import (
	"strings"
	"testing"
)

func TestInvalidValuesFailToRender(t *testing.T) {
	tests := map[string]struct {
		values  string
		wantErr string
	}{
		"a misspelt top-level key":                  {values: "moed: audit", wantErr: "additional properties 'moed' not allowed"},
		"a misspelt nested key":                     {values: "image: {tga: v1}", wantErr: "additional properties 'tga' not allowed"},
		"a rule that does not exist":                {values: "rules: {ingress: {mode: audit}}", wantErr: "additional properties 'ingress' not allowed"},
		"a global mode other than enforce or audit": {values: "mode: off", wantErr: "/mode"},
		"a rule mode that does not exist":           {values: "rules: {nginx-http11: {mode: warn}}", wantErr: "/rules/nginx-http11/mode"},
		"a rule mode of true":                       {values: "rules: {nginx-http11: {mode: true}}", wantErr: "/rules/nginx-http11/mode"},
		"timeoutSeconds above 5":                    {values: "timeoutSeconds: 10", wantErr: "maximum: got 10, want 5"},
		"timeoutSeconds as a string":                {values: `timeoutSeconds: "3"`, wantErr: "/timeoutSeconds"},
		"a failurePolicy other than Fail or Ignore": {values: "failurePolicy: fail", wantErr: "/failurePolicy"},
		"an unknown certificate mode":               {values: "certificates: {mode: vault}", wantErr: "/certificates/mode"},
		"provided without a Secret or CA bundle":    {values: "certificates: {mode: provided}", wantErr: "/certificates/provided"},
		"provided with a CA bundle that is not PEM": {values: "certificates: {mode: provided, provided: {secretName: s, caBundle: LS0tLS1=}}", wantErr: "/certificates/provided/caBundle"},
		"an excluded namespace that is no name":     {values: "excludedNamespaces: [Kube_System]", wantErr: "/excludedNamespaces/0"},
		"zero replicas":                             {values: "replicaCount: 0", wantErr: "/replicaCount"},
		"a rotation period that is no duration":     {values: "certificates: {self: {validity: 1y}}", wantErr: "/certificates/self/validity"},
		"a log level the server does not know":      {values: "logLevel: warn", wantErr: "/logLevel"},
		"a grace period the drain does not fit in": {
			values: "terminationGracePeriodSeconds: 8\nshutdownDelaySeconds: 5\ntimeoutSeconds: 3", wantErr: "terminationGracePeriodSeconds=8 must exceed",
		},
		"every rule off": {
			values:  "rules: {ingress-in-mesh: {mode: off}, namespace-joins-mesh: {mode: off}, nginx-http11: {mode: off}, gce-metadata-address: {mode: off}, gateway-credential-name: {mode: off}, probe-rewrite-disabled: {mode: off}}",
			wantErr: "every rule is off",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := renderErr(t, values(t, tc.values))
			if err == nil {
				t.Fatalf("values %q rendered, want an error containing %q", tc.values, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestEveryValueIsValid(t *testing.T) {
	// Everything switched on at once, so no template path is left unrendered.
	m := render(t, values(t, `
mode: audit
meshByDefault: true
excludedNamespaces: [istio-system]
metrics:
  serviceMonitor: {enabled: true, labels: {release: prom}}
  prometheusRule: {enabled: true}
networkPolicy: {enabled: true}
certificates: {mode: cert-manager}
`))
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "Certificate", "Issuer"} {
		if len(m.Custom[kind]) == 0 {
			t.Errorf("no %s rendered", kind)
		}
	}
	if m.NetworkPolicy == nil {
		t.Fatal("no NetworkPolicy rendered")
	}
	np := m.NetworkPolicy.Spec
	if len(np.Ingress) != 2 || len(np.Ingress[0].From) != 0 || np.Ingress[0].Ports[0].Port.String() != "webhook" ||
		np.Ingress[1].From[0].NamespaceSelector == nil || np.Ingress[1].Ports[0].Port.String() != "metrics" {
		t.Errorf("NetworkPolicy ingress = %+v, want the webhook port from anywhere and metrics from the selected namespaces", np.Ingress)
	}
}

func TestPrometheusRuleAlerts(t *testing.T) {
	m := render(t, values(t, "metrics: {prometheusRule: {enabled: true}}"))
	rule := m.Custom["PrometheusRule"][0]
	text := findDoc(m, "kind: PrometheusRule")
	for alert, wants := range map[string][]string{
		"MeshguardReviewErrors":           {`meshguard_decisions_total{job="` + fullname + `", namespace="` + releaseNS + `", decision="error"}`},
		"MeshguardWebhookHTTPErrors":      {`controller_runtime_webhook_requests_total{job="` + fullname + `", namespace="` + releaseNS + `", code!~"2.."}`},
		"MeshguardWebhookSlow":            {"histogram_quantile(0.99", "controller_runtime_webhook_latency_seconds_bucket"},
		"MeshguardCertificateExpiresSoon": {"meshguard_cert_expiry_timestamp_seconds", "< 7 * 86400"},
		"MeshguardWouldDeny":              {`decision="would_deny"`},
	} {
		if !strings.Contains(text, "alert: "+alert) {
			t.Errorf("no alert %s", alert)
			continue
		}
		for _, want := range wants {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the rule text lacks %q", alert, want)
			}
		}
	}
	if rule["kind"] != "PrometheusRule" {
		t.Fatalf("decoded %v", rule["kind"])
	}
}

func TestNotes(t *testing.T) {
	tests := map[string]struct {
		values string
		want   []string
	}{
		"enforce lists every rule with its failurePolicy": {
			want: []string{"Mode: enforce", "ingress-in-mesh: enforce (failurePolicy Fail)", "namespace-joins-mesh: enforce (failurePolicy Ignore)", "Certificates: self"},
		},
		"audit says how to read the findings and how to enforce": {
			values: "mode: audit",
			want: []string{"Mode: audit", "nothing is denied or patched", `meshguard_decisions_total{decision=~"would_.*"}`,
				"--set rules.ingress-in-mesh.mode=enforce", "--set mode=enforce", "kubectl -n " + releaseNS + " rollout status deployment/" + fullname},
		},
		"an off rule is listed as off": {values: "rules: {gce-metadata-address: {mode: off}}", want: []string{"gce-metadata-address: off\n"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			notes := render(t, values(t, tc.values)).Notes
			for _, want := range tc.want {
				if !strings.Contains(notes, want) {
					t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
				}
			}
		})
	}
}
