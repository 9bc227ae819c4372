package certs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validSelf() Config {
	return Config{
		Mode: Self, Dir: "/certs", Secret: "meshguard-tls", Namespace: "meshguard",
		Service:                        "meshguard.meshguard.svc",
		ValidatingWebhookConfiguration: "meshguard", MutatingWebhookConfiguration: "meshguard",
		Validity: DefaultValidity, RenewBefore: DefaultRenewBefore, CheckInterval: DefaultCheckInterval,
	}
}

func TestParseMode(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    Mode
		wantErr bool
	}{
		"external is accepted":                            {in: "external", want: External},
		"self is accepted whatever its case":              {in: " Self ", want: Self},
		"cert-manager is a chart mode, not a server mode": {in: "cert-manager", wantErr: true},
		"empty is rejected":                               {in: "", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseMode(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseMode(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		edit func(*Config)
		// wantErr lists substrings of the error; none means valid.
		wantErr []string
	}{
		"the chart's self-mode flags are valid":         {edit: func(*Config) {}},
		"external mode needs only the directory":        {edit: func(c *Config) { *c = Config{Mode: External, Dir: "/certs"} }},
		"no directory is an error in every mode":        {edit: func(c *Config) { *c = Config{Mode: External} }, wantErr: []string{"--cert-dir is empty"}},
		"an unknown mode names the modes":               {edit: func(c *Config) { c.Mode = "auto" }, wantErr: []string{`unknown certificate mode "auto"`, "external or self"}},
		"self without a secret says which flag to set":  {edit: func(c *Config) { c.Secret = "" }, wantErr: []string{"--cert-secret is empty"}},
		"self without a namespace explains the default": {edit: func(c *Config) { c.Namespace = "" }, wantErr: []string{"--cert-namespace is empty", "$POD_NAMESPACE"}},
		"an invalid secret name is rejected":            {edit: func(c *Config) { c.Secret = "Bad_Name" }, wantErr: []string{`--cert-secret "Bad_Name" is not a valid object name`}},
		"self without a service names the DNS form":     {edit: func(c *Config) { c.Service = "" }, wantErr: []string{"--webhook-service is empty", "<service>"}},
		"a bare service name is not what the API server calls": {
			edit: func(c *Config) { c.Service = "meshguard" }, wantErr: []string{`--webhook-service "meshguard" is not a service DNS name`},
		},
		"self without any webhook configuration cannot inject its CA": {
			edit:    func(c *Config) { c.ValidatingWebhookConfiguration, c.MutatingWebhookConfiguration = "", "" },
			wantErr: []string{"--validating-webhook-configuration and --mutating-webhook-configuration are both empty"},
		},
		"extra DNS names such as localhost are accepted": {edit: func(c *Config) { c.ExtraDNSNames = []string{"localhost", "meshguard.meshguard.svc.cluster.local"} }},
		"an extra DNS name that is no name is rejected": {
			edit: func(c *Config) { c.ExtraDNSNames = []string{"127.0.0.1:9443"} }, wantErr: []string{`--cert-dns-names: "127.0.0.1:9443" is not a DNS name`},
		},
		"one webhook configuration is enough": {edit: func(c *Config) { c.MutatingWebhookConfiguration = "" }},
		"renewing before a certificate is even valid would loop": {
			edit: func(c *Config) { c.Validity, c.RenewBefore = 2*time.Hour, 2*time.Hour }, wantErr: []string{"--cert-renew-before 2h0m0s must be positive and shorter than --cert-validity"},
		},
		"a check interval longer than half the renewal window is rejected": {
			edit: func(c *Config) { c.CheckInterval = 50 * 24 * time.Hour }, wantErr: []string{"--cert-check-interval", "at most half"},
		},
		"a validity under an hour is rejected": {
			edit: func(c *Config) {
				c.Validity, c.RenewBefore, c.CheckInterval = time.Minute, 30*time.Second, 10*time.Second
			}, wantErr: []string{"--cert-validity 1m0s is too short"},
		},
		"every problem is reported at once": {
			edit: func(c *Config) { c.Secret, c.Service = "", "" }, wantErr: []string{"--cert-secret is empty", "--webhook-service is empty"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := validSelf()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestNamespaceFrom(t *testing.T) {
	file := filepath.Join(t.TempDir(), "namespace")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string { return func(string) string { return v } }
	tests := map[string]struct {
		getenv func(string) string
		file   string
		want   string
	}{
		"POD_NAMESPACE wins over the file":            {getenv: env("from-env"), file: file, want: "from-env"},
		"the service account file is the fallback":    {getenv: env(""), file: file, want: "from-file"},
		"neither gives empty, which Validate reports": {getenv: env(""), file: filepath.Join(t.TempDir(), "missing"), want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := namespaceFrom(tc.getenv, tc.file); got != tc.want {
				t.Fatalf("namespaceFrom() = %q, want %q", got, tc.want)
			}
		})
	}
}
