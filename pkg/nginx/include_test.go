package nginx

import (
	"fmt"
	"strings"
	"testing"
)

const includeMain = `events {}
http {
    include /etc/nginx/proxy-defaults;
    include /etc/nginx/conf.d/*.conf;
}
`

const includeServer = `server {
    listen 8080;
    location / {
        proxy_pass http://app.internal;
    }
}
`

// debianMain is the nginx.conf Debian and Ubuntu ship, shortened: a glob
// over modules-enabled at main level and one over conf.d inside http. A
// ConfigMap mounted as conf.d matches both by name.
const debianMain = `user www-data;
worker_processes auto;
pid /run/nginx.pid;
include /etc/nginx/modules-enabled/*.conf;

events {
    worker_connections 768;
}

http {
    sendfile on;
    include /etc/nginx/mime.types;
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}
`

// TestDebianMainWithManyLocations is the shape that used to get no finding
// at all: Debian's nginx.conf beside a server of 13 plain proxy_pass.
func TestDebianMainWithManyLocations(t *testing.T) {
	var b strings.Builder
	b.WriteString("server {\n    listen 80;\n")
	for i := range 13 {
		fmt.Fprintf(&b, "    location /app%d/ {\n        proxy_pass http://app%d.internal;\n    }\n", i, i)
	}
	b.WriteString("}\n")
	files := map[string]string{"nginx.conf": debianMain, "default.conf": b.String()}
	r := rewrite(files)
	if len(r.Skipped) > 0 || len(r.Edits) != 13 {
		t.Fatalf("edits %d, skipped %+v; want 13 inserts and nothing skipped", len(r.Edits), r.Skipped)
	}
	for i, e := range r.Edits {
		if e.File != "default.conf" || e.Line != 4+3*i || e.New != "proxy_http_version 1.1;" {
			t.Errorf("edit %d = %+v", i, e)
		}
	}
	checkProperties(t, files)
}

// wantEdit is an expected edit: file, line, and the text added or switched to.
type wantEdit struct {
	file string
	line int
	new  string
	why  string // a substring of the reason
}

// TestIncludesBetweenKeys covers ConfigMaps whose values include one another.
func TestIncludesBetweenKeys(t *testing.T) {
	cases := map[string]struct {
		files   map[string]string
		edits   []wantEdit
		skipped []string // keys
	}{
		"a 1.1 set at http level in an included key covers the servers of another": {
			files: map[string]string{
				"nginx.conf":     includeMain,
				"proxy-defaults": "proxy_http_version 1.1;\nproxy_set_header Connection \"\";\n",
				"default.conf":   includeServer,
			},
		},
		"a 1.0 set at http level in an included key is switched where it is written": {
			files: map[string]string{
				"nginx.conf":     includeMain,
				"proxy-defaults": "# shared\nproxy_http_version 1.0;\n",
				"default.conf":   includeServer,
			},
			edits: []wantEdit{{"proxy-defaults", 2, "proxy_http_version 1.1;", "applies to proxy_pass http://app.internal in location / (default.conf line 4)"}},
		},
		"a 1.0 in the main file covers the conf.d snippets it includes": {
			files: map[string]string{
				"nginx.conf": "events {}\nhttp {\n    proxy_http_version 1.0;\n    include conf.d/*.conf;\n}\n",
				"a.conf":     includeServer,
				"b.conf":     strings.ReplaceAll(includeServer, "8080", "8081"),
			},
			edits: []wantEdit{{"nginx.conf", 3, "proxy_http_version 1.1;", "a.conf line 4"}},
		},
		"a snippet included from a location gets the insert in the includer": {
			files: map[string]string{
				"default.conf": "server {\n    listen 8080;\n    location / {\n        include /etc/nginx/snippets/app-proxy;\n    }\n}\n",
				"app-proxy":    "proxy_set_header Host $host;\nproxy_pass http://app.internal;\n",
			},
			edits: []wantEdit{{"default.conf", 4, "proxy_http_version 1.1;", "(app-proxy line 2)"}},
		},
		"a snippet included from two locations is fixed only where needed": {
			files: map[string]string{
				"default.conf": "server {\n    listen 8080;\n    location /a/ {\n        proxy_http_version 1.1;\n        include app-proxy;\n    }\n    location /b/ {\n        include app-proxy;\n    }\n}\n",
				"app-proxy":    "proxy_pass http://app.internal;\n",
			},
			edits: []wantEdit{{"default.conf", 8, "proxy_http_version 1.1;", "location /b/"}},
		},
		"an include that matches no key is unknown: the insert still happens and says so": {
			files: map[string]string{
				"default.conf": "server {\n    listen 8080;\n    location / {\n        include /etc/nginx/proxy_params;\n        proxy_pass http://app.internal;\n    }\n}\n",
			},
			edits: []wantEdit{{"default.conf", 5, "proxy_http_version 1.1;", "include /etc/nginx/proxy_params is not in this ConfigMap"}},
		},
		"a key included from stream is never treated as http": {
			files: map[string]string{
				"nginx.conf": "events {}\nstream {\n    include tcp.conf;\n}\n",
				"tcp.conf":   "server {\n    listen 3306;\n    proxy_pass db.internal:3306;\n}\n",
			},
		},
		"an included key that is not nginx config is an unknown include": {
			files: map[string]string{
				"default.conf": "server {\n    listen 8080;\n    location / {\n        include extra.conf;\n        proxy_pass http://app.internal;\n    }\n}\n",
				"extra.conf":   "this is { not nginx\n",
			},
			edits: []wantEdit{{"default.conf", 5, "proxy_http_version 1.1;", "include extra.conf is not in this ConfigMap"}},
		},
		"values that include each other are skipped": {
			files: map[string]string{
				"a.conf": "include b.conf;\nlocation / { proxy_pass http://a.internal; }\n",
				"b.conf": "include a.conf;\nlocation / { proxy_pass http://b.internal; }\n",
			},
			skipped: []string{"a.conf", "b.conf"},
		},
		"a duplicate brought in by an include is skipped, not made worse": {
			files: map[string]string{
				"default.conf": "server {\n    location / {\n        proxy_http_version 1.0;\n        include more;\n        proxy_pass http://app.internal;\n    }\n}\n",
				"more":         "proxy_http_version 1.1;\n",
			},
			skipped: []string{"default.conf"},
		},
		"a broken value is skipped and an unrelated one is still rewritten": {
			files: map[string]string{
				"good.conf": includeServer,
				"bad.conf":  "server {\n    location / {\n        proxy_pass http://app.internal;\n",
			},
			edits:   []wantEdit{{"good.conf", 4, "proxy_http_version 1.1;", "location /"}},
			skipped: []string{"bad.conf"},
		},
		"a glob over another directory at main level does not take a conf.d snippet for main-level config": {
			files: map[string]string{
				"nginx.conf":   debianMain,
				"default.conf": includeServer,
			},
			edits: []wantEdit{{"default.conf", 4, "proxy_http_version 1.1;", "location /"}},
		},
		"a snippet named by its exact name at main level is still refused": {
			files: map[string]string{
				"nginx.conf":   "include default.conf;\nevents {}\nhttp {}\n",
				"default.conf": includeServer,
			},
			skipped: []string{"default.conf"},
		},
		"a glob never makes a value include itself": {
			files: map[string]string{
				"all.conf": "include *.conf;\nserver {\n    location / {\n        proxy_pass http://app.internal;\n    }\n}\n",
			},
			edits: []wantEdit{{"all.conf", 4, "proxy_http_version 1.1;", "location /"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := rewrite(tc.files)
			var skipped []string
			for _, s := range r.Skipped {
				skipped = append(skipped, s.File)
			}
			if strings.Join(skipped, ",") != strings.Join(tc.skipped, ",") {
				t.Errorf("skipped %+v, want %v", r.Skipped, tc.skipped)
			}
			if len(r.Edits) != len(tc.edits) {
				t.Fatalf("edits %+v, want %+v", r.Edits, tc.edits)
			}
			for i, w := range tc.edits {
				e := r.Edits[i]
				if e.File != w.file || e.Line != w.line || e.New != w.new || !strings.Contains(e.Reason, w.why) {
					t.Errorf("edit %d = %+v, want %+v", i, e, w)
				}
			}
			if len(r.Skipped) > 0 && len(r.Edits) == 0 && len(r.Changed) > 0 {
				t.Errorf("changed values while skipping: %v", r.Changed)
			}
			checkProperties(t, tc.files)
		})
	}
}
