package main

import (
	"crypto/tls"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/meshguard/meshguard/pkg/server"
)

func TestCertFlags(t *testing.T) {
	self := []string{"--cert-mode=self", "--cert-secret=meshguard-tls", "--webhook-service=meshguard.meshguard.svc",
		"--validating-webhook-configuration=meshguard", "--mutating-webhook-configuration=meshguard"}
	tests := map[string]struct {
		args         []string
		podNamespace string
		wantErr      string
		outsidePod   bool
	}{
		"no flags keep reading --cert-dir, as before":      {args: nil},
		"the chart's self-mode flags are accepted":         {args: self, podNamespace: "meshguard"},
		"the namespace may be given instead of discovered": {args: append([]string{"--cert-namespace=meshguard"}, self...)},
		"an unknown mode names the modes":                  {args: []string{"--cert-mode=auto"}, wantErr: "--cert-mode: unknown certificate mode \"auto\""},
		"self without a secret names the flag":             {args: []string{"--cert-mode=self", "--webhook-service=a.b.svc", "--validating-webhook-configuration=x"}, podNamespace: "ns", wantErr: "--cert-secret is empty"},
		"self outside a pod without a namespace says where it looks": {
			args: self, wantErr: "--cert-namespace is empty", outsidePod: true,
		},
		"a renewal window as long as the validity is refused": {
			args: append([]string{"--cert-validity=48h", "--cert-renew-before=48h"}, self...), podNamespace: "ns", wantErr: "--cert-renew-before 48h0m0s must be positive and shorter",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tc.podNamespace)
			if _, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && tc.outsidePod {
				t.Skip("running in a pod: the service account's namespace file supplies the namespace")
			}
			fs, f := newServeFlags(io.Discard)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			o, err := f.certs.wire(server.Options{CertDir: t.TempDir(), Log: logr.Discard()})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("wire() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(o.AddOns) != 1 || len(o.TLSOpts) != 1 {
				t.Fatalf("wire() left %d add-ons and %d TLSOpts, want the provider plugged in", len(o.AddOns), len(o.TLSOpts))
			}
			cfg := &tls.Config{}
			o.TLSOpts[0](cfg)
			if cfg.GetCertificate == nil {
				t.Fatal("the TLS option does not set GetCertificate, so controller-runtime would watch the directory itself and fail while it is empty")
			}
		})
	}
}
