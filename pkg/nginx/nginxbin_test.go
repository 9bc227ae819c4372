package nginx

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// nginxBinary returns the nginx to test against. Without one the test is
// skipped loudly on a workstation and fails in CI (CI=true), where
// hack/install-test-deps.sh must have installed it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	msg := "!!! nginx NOT FOUND: the real-nginx tests did NOT run; install it with `sudo hack/install-test-deps.sh` (Debian's nginx package)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " — CI must run hack/install-test-deps.sh before go test")
	}
	t.Skip(msg)
	return ""
}

// nginxCheck runs `nginx -t` on configuration trees in a private mount
// namespace: /etc/hosts maps the upstream names the config uses to
// 127.0.0.1 (nginx resolves them at load time), and tmpfs over /var/log,
// /var/cache and /var/lib/nginx keeps the logs, caches and temp folders
// that nginx -t creates from landing on the machine.
type nginxCheck struct {
	bin      string
	isolated bool // unshare works; else nginx runs directly and only error texts are compared
}

func newNginxCheck(t *testing.T) *nginxCheck {
	t.Helper()
	c := &nginxCheck{bin: nginxBinary(t)}
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "true").CombinedOutput()
	c.isolated = err == nil
	if !c.isolated {
		t.Logf("!!! unshare --mount failed (%v: %s): running nginx -t without a private /etc/hosts; host-name errors are only compared between input and output", err, bytes.TrimSpace(out))
	}
	return c
}

// wrapperName is the file that puts a snippet in context; no test value uses it.
const wrapperName = "meshguard-wrapper.conf"

// run tests the configuration in dir (conf/meshguard-wrapper.conf there) and
// returns nginx's emergency messages, normalised, or "" when the test passed.
func (c *nginxCheck) run(t *testing.T, dir string, hosts []string) string {
	t.Helper()
	main := filepath.Join(dir, "conf", wrapperName)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if c.isolated {
		hostsFile := filepath.Join(dir, "hosts")
		content := "127.0.0.1 localhost\n::1 localhost\n"
		if len(hosts) > 0 {
			content += "127.0.0.1 " + strings.Join(hosts, " ") + "\n"
		}
		if err := os.WriteFile(hostsFile, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		script := `set -e
mount --bind "$1" /etc/hosts
mount -t tmpfs tmpfs /var/log && mkdir -p /var/log/nginx
mount -t tmpfs tmpfs /var/cache
if [ -d /var/lib/nginx ]; then mount -t tmpfs tmpfs /var/lib/nginx; fi
exec "$2" -t -p "$3/" -c "$4" -e stderr`
		cmd = exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", hostsFile, c.bin, dir, main)
	} else {
		cmd = exec.CommandContext(ctx, c.bin, "-t", "-p", dir+"/", "-c", main, "-e", "stderr")
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("nginx -t timed out: %s", out)
	}
	if err == nil {
		return ""
	}
	msg := normaliseNginxErrors(string(out), dir)
	if msg == "" {
		t.Fatalf("nginx -t failed without an [emerg] message (%v): %s", err, out)
	}
	return msg
}

// normaliseNginxErrors keeps nginx's [emerg]/[alert]/[crit] lines without
// timestamps, pids, the run folder and line numbers, which an inserted line
// shifts.
func normaliseNginxErrors(out, dir string) string {
	stamp := regexp.MustCompile(`^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d |nginx: )`)
	pid := regexp.MustCompile(`\] \d+#\d+: `)
	line := regexp.MustCompile(`:\d+\b`)
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "[emerg]") && !strings.Contains(l, "[alert]") && !strings.Contains(l, "[crit]") {
			continue
		}
		l = stamp.ReplaceAllString(l, "")
		l = pid.ReplaceAllString(l, "] ")
		l = strings.ReplaceAll(l, dir, "<dir>")
		l = line.ReplaceAllString(l, ":N")
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// writeTree lays out one value for nginx -t: conf/<key> holds it, and
// conf/meshguard-wrapper.conf wraps it in the context its shape calls for (a full
// nginx.conf is used as it is). Debian's stock files (mime.types,
// *_params) are copied next to it so that relative includes resolve.
func writeTree(t *testing.T, dir, key, value string, k kind) {
	t.Helper()
	conf := filepath.Join(dir, "conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mime.types", "fastcgi_params", "fastcgi.conf", "proxy_params", "scgi_params", "uwsgi_params"} {
		if b, err := os.ReadFile(filepath.Join("/etc/nginx", name)); err == nil {
			if err := os.WriteFile(filepath.Join(conf, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if key == wrapperName {
		t.Fatalf("a test value may not be called %s", wrapperName)
	}
	file := filepath.Join(conf, key)
	if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
		t.Fatal(err)
	}
	var main string
	switch k {
	case kindMain:
		main = "include " + file + ";\n"
	case kindHTTP:
		main = fmt.Sprintf("events {}\nhttp {\n    include %s;\n}\n", file)
	case kindServer:
		main = fmt.Sprintf("events {}\nhttp {\n    server {\n        listen 127.0.0.1:18080;\n        include %s;\n    }\n}\n", file)
	default:
		main = fmt.Sprintf("events {}\nhttp {\n    server {\n        listen 127.0.0.1:18080;\n        location / {\n            include %s;\n        }\n    }\n}\n", file)
	}
	if err := os.WriteFile(filepath.Join(conf, wrapperName), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
}

// upstreamHosts lists the host names the value makes nginx resolve at load
// time: proxy_pass and friends, upstream servers, resolvers, listen.
func upstreamHosts(f *file) []string {
	seen := map[string]bool{}
	for i := range f.nodes {
		var args []int32
		switch f.nodes[i].name {
		case "proxy_pass", "grpc_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "memcached_pass", "server", "listen":
			args = f.args(int32(i))
			if len(args) > 1 {
				args = args[:1]
			}
		case "resolver":
			args = f.args(int32(i))
		}
		for _, a := range args {
			if h := hostOf(f.val(a)); h != "" {
				seen[h] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for h := range seen {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// hostOf extracts a resolvable host name from an address or URL, or "".
func hostOf(v string) string {
	if i := strings.Index(v, "://"); i >= 0 {
		v = v[i+3:]
	}
	if i := strings.IndexAny(v, "/?"); i >= 0 {
		v = v[:i]
	}
	if strings.HasPrefix(v, "[") || strings.HasPrefix(v, "unix:") || strings.ContainsAny(v, "$=*") {
		return ""
	}
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		v = v[:i]
	}
	if v == "" || net.ParseIP(v) != nil || strings.Trim(v, "0123456789") == "" {
		return ""
	}
	return v
}
