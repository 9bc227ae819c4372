package nginx

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

const simpleServer = "server {\n    location / {\n        proxy_pass http://app.internal;\n    }\n}\n"

func TestNeedsLook(t *testing.T) {
	for v, want := range map[string]bool{
		"":                              false,
		"key: value\n":                  false,
		"server { listen 80; }":         false,
		"proxy_pass http://x;":          true,
		"# proxy_pass is commented out": true,
	} {
		if got := NeedsLook(v); got != want {
			t.Errorf("NeedsLook(%q) = %t, want %t", v, got, want)
		}
	}
}

// TestValuesLeftAlone lists values that must come back byte for byte, and
// whether they are reported as skipped.
func TestValuesLeftAlone(t *testing.T) {
	cases := map[string]struct {
		value string
		skip  string // substring of the skip reason; "" means not skipped
		valid bool   // a skipped value is nginx configuration (Skip.Valid)
	}{
		"yaml without proxy_pass is ignored":            {"replicas: 3\nimage: nginx\n", "", false},
		"broken nginx without proxy_pass is ignored":    {"server {\n", "", false},
		"json without proxy_pass is ignored":            {`{"a": 1}`, "", false},
		"proxy_pass only in a comment":                  {"# proxy_pass http://x;\nserver { listen 80; }\n", "", false},
		"proxy_pass only in a quoted string":            {"server { add_header X 'proxy_pass http://x;'; }\n", "", false},
		"proxy_pass as a map key":                       {"map $a $b { proxy_pass 1; default 0; }\n", "", false},
		"yaml mentioning proxy_pass":                    {"nginx:\n  snippet: |\n    location / { proxy_pass http://x; }\n", "not an nginx directive", false},
		"json mentioning proxy_pass":                    {`{"snippet": "location / { proxy_pass http://x; }"}`, "not analysable", false},
		"shell script mentioning proxy_pass":            {"#!/bin/sh\nsed -i 's/proxy_pass .*/proxy_pass http:\\/\\/x;/' /etc/nginx/nginx.conf\n", "not analysable", false},
		"unbalanced braces":                             {"server {\n location / { proxy_pass http://x; }\n", "not analysable", false},
		"missing semicolon":                             {"location / { proxy_pass http://x }\n", "not terminated", false},
		"lua block":                                     {"location / {\n content_by_lua_block { ngx.say('hi') }\n proxy_pass http://x;\n}\n", "Lua", true},
		"proxy_pass with two arguments":                 {"location / { proxy_pass http://x http://y; }\n", "exactly one argument", true},
		"duplicate proxy_http_version":                  {"location / { proxy_http_version 1.0; proxy_http_version 1.0; proxy_pass http://x; }\n", "duplicate", true},
		"proxy_http_version inside if":                  {"location / { if ($a) { proxy_http_version 1.0; proxy_pass http://x; } }\n", "not allowed here", true},
		"proxy_pass inside an unknown block":            {"server { location / { foo_block { proxy_pass http://x; } } }\n", "does not know", true},
		"escaped version token":                         {"location / { proxy_http_version 1\\.0; proxy_pass http://x; }\n", "", false},
		"proxy_pass directly in a server is stream TCP": {"server { listen 3306; proxy_pass db:3306; }\n", "", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := rewrite(map[string]string{"v": tc.value})
			if len(r.Changed) > 0 || len(r.Edits) > 0 {
				t.Fatalf("value was changed: %+v", r.Edits)
			}
			switch {
			case tc.skip == "" && len(r.Skipped) > 0:
				t.Errorf("skipped: %+v", r.Skipped)
			case tc.skip != "" && (len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0].Reason, tc.skip)):
				t.Errorf("skipped %+v, want a reason containing %q", r.Skipped, tc.skip)
			case tc.skip != "" && r.Skipped[0].Valid != tc.valid:
				t.Errorf("skipped %+v: Valid = %v, want %v", r.Skipped, r.Skipped[0].Valid, tc.valid)
			}
		})
	}
}

func TestMaxBytes(t *testing.T) {
	r := Rewrite(context.Background(), map[string]string{"big": simpleServer, "small": "location / { proxy_pass http://x; }"}, Options{MaxBytes: 40})
	if len(r.Skipped) != 1 || r.Skipped[0].File != "big" || !strings.Contains(r.Skipped[0].Reason, "limit") {
		t.Errorf("skipped %+v, want big over the limit", r.Skipped)
	}
	if _, ok := r.Changed["small"]; !ok {
		t.Errorf("small value not rewritten: %+v", r)
	}
}

func TestDeadlineSkipsEverythingUnfinished(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	files := map[string]string{"a": simpleServer, "b": simpleServer, "c": "not: nginx\n"}
	r := Rewrite(ctx, files, Options{})
	if len(r.Changed) > 0 || len(r.Edits) > 0 {
		t.Fatalf("changed values after the deadline: %+v", r)
	}
	if len(r.Skipped) != 2 || r.Skipped[0].File != "a" || r.Skipped[1].File != "b" || r.Skipped[0].Reason != reasonDeadline {
		t.Errorf("skipped %+v, want a and b for the deadline", r.Skipped)
	}
}

// TestIncludeFanOutIsBounded: values that each include the next one ten
// times would expand to 10^10 directives; the walk must give up quickly.
func TestIncludeFanOutIsBounded(t *testing.T) {
	files := map[string]string{}
	const n = 10
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("k%02d", i)] = strings.Repeat(fmt.Sprintf("include k%02d;\n", i+1), 10)
	}
	files[fmt.Sprintf("k%02d", n)] = "location / { proxy_pass http://x; }\n"
	start := time.Now()
	r := rewrite(files)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if len(r.Changed) > 0 || len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0].Reason, "includes expand") {
		t.Errorf("got %+v, want the proxy_pass value skipped for include fan-out", r)
	}
}

func TestEditFields(t *testing.T) {
	src := "server {\n    proxy_http_version 1.0;\n    location /api {\n        proxy_pass http://backend;\n    }\n}\n" +
		"server {\n    location / {\n        proxy_pass http://other;\n    }\n}\n"
	r := rewrite(map[string]string{"default.conf": src})
	want := []Edit{
		{File: "default.conf", Line: 2, Old: "proxy_http_version 1.0;", New: "proxy_http_version 1.1;", Reason: "proxy_http_version 1.0 applies to proxy_pass http://backend in location /api (line 4)"},
		{File: "default.conf", Line: 9, Old: "", New: "proxy_http_version 1.1;", Reason: "proxy_pass http://other in location /"},
	}
	if fmt.Sprint(r.Edits) != fmt.Sprint(want) {
		t.Errorf("edits\n %+v\nwant\n %+v", r.Edits, want)
	}
}

func TestOnlyVersionChangesRejectsOtherChanges(t *testing.T) {
	for _, c := range [][2]string{
		{"a;\n", "b;\n"},
		{"a;\n", "a;\nproxy_http_version 1.2;\n"},
		{"x 1.0;\n", "x 1.2;\n"},
		{"a { b; }\n", "a { proxy_http_version 1.1;b; }\n"},
		{"a;\nb;\n", "a;\n"},
	} {
		if onlyVersionChanges(c[0], c[1]) == nil {
			t.Errorf("%q -> %q accepted", c[0], c[1])
		}
	}
}
