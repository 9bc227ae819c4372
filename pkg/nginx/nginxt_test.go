package nginx

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestNginxAcceptsRewrites runs the real `nginx -t` on the input and the
// output of every golden case and corpus value. Where nginx accepts the
// input it must accept the output; where the input fails for reasons that
// have nothing to do with the rewrite (certificates that are not there,
// NGINX Plus or third-party directives, included files that are not there),
// the output must fail with the same error, so the rewrite never adds one.
func TestNginxAcceptsRewrites(t *testing.T) {
	check := newNginxCheck(t)
	_, withCorpus := corpus(t)
	maps := configMaps(t, withCorpus)
	ran, passed, ranCorpus := 0, 0, 0
	for _, cm := range maps {
		r := rewrite(cm.files)
		for _, key := range sortedKeys(cm.files) {
			in := cm.files[key]
			f, err := parse(context.Background(), key, in)
			if err != nil {
				continue // not nginx config (a manifest's raw YAML), left alone by Rewrite
			}
			out := outputOf(r, cm.files, key)
			name := cm.name + "/" + key
			t.Run(name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "run")
				hosts := upstreamHosts(f)
				writeTree(t, dir, key, in, rootKind(f))
				inErr := check.run(t, dir, hosts)
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				writeTree(t, dir, key, out, rootKind(f))
				outErr := check.run(t, dir, hosts)
				ran++
				if strings.HasPrefix(cm.name, "corpus/") {
					ranCorpus++
				}
				switch {
				case inErr == "" && outErr != "":
					t.Errorf("nginx accepts the input but rejects the output:\n%s", outErr)
				case inErr != outErr:
					t.Errorf("nginx fails differently on the output:\ninput:  %s\noutput: %s", inErr, outErr)
				case inErr != "":
					t.Logf("input and output fail alike (not caused by the rewrite): %s", inErr)
				default:
					passed++
				}
				if strings.HasPrefix(cm.name, "golden/") && inErr != "" && !strings.Contains(inErr, `unknown directive "stream"`) {
					t.Errorf("golden input must be valid nginx config: %s", inErr)
				}
			})
		}
	}
	t.Logf("nginx -t ran on %d values: %d pass before and after, the rest fail alike", ran, passed)
	if ran == 0 {
		t.Fatal("nginx -t ran on nothing")
	}
	t.Run("corpus", func(t *testing.T) {
		requireCorpus(t)
		if ranCorpus == 0 {
			t.Error("nginx -t ran on no corpus value")
		}
	})
}

// TestNginxWrapsEveryShape makes sure the wrappers used by the nginx -t test
// really put each kind of snippet where nginx accepts it, so a pass means
// something.
func TestNginxWrapsEveryShape(t *testing.T) {
	check := newNginxCheck(t)
	values := map[string]string{
		"main":      "events {}\nhttp { server { listen 127.0.0.1:18081; location / { proxy_pass http://app.internal; } } }\n",
		"servers":   "server { listen 127.0.0.1:18081; location / { proxy_pass http://app.internal; } }\n",
		"locations": "location /x/ { proxy_pass http://app.internal; }\n",
		"fragment":  "proxy_set_header Host $host;\nproxy_pass http://app.internal;\n",
		"duplicate": "proxy_http_version 1.1;\nproxy_http_version 1.1;\nproxy_pass http://app.internal;\n",
	}
	for _, name := range sortedKeys(values) {
		f, err := parse(context.Background(), name, values[name])
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "run")
		writeTree(t, dir, name+".conf", values[name], rootKind(f))
		got := check.run(t, dir, upstreamHosts(f))
		if name == "duplicate" {
			if !strings.Contains(got, "is duplicate") {
				t.Errorf("nginx -t did not catch a duplicate proxy_http_version: %q", got)
			}
		} else if got != "" {
			t.Errorf("%s: nginx rejects the wrapped snippet: %s", name, got)
		}
	}
}

func TestHostOf(t *testing.T) {
	got := map[string]string{}
	for _, v := range []string{"http://app.internal:8080/x", "backend", "127.0.0.1:80", "[::1]:80", "unix:/run/x.sock", "http://$host", "80", "consul:53", "valid=30s", "db.internal:3306"} {
		got[v] = hostOf(v)
	}
	want := map[string]string{"http://app.internal:8080/x": "app.internal", "backend": "backend", "consul:53": "consul", "db.internal:3306": "db.internal"}
	keys := sortedKeys(got)
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("hostOf(%q) = %q, want %q", k, got[k], want[k])
		}
	}
}
