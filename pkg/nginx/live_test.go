package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestLiveProxyUsesHTTP11 proves the fix end to end with a real nginx on
// loopback: an upstream that behaves like Envoy (426 for HTTP/1.0, 200 for
// HTTP/1.1) sees HTTP/1.0 through the original config and HTTP/1.1 through
// the rewritten one.
func TestLiveProxyUsesHTTP11(t *testing.T) {
	bin := nginxBinary(t)
	var mu sync.Mutex
	var seen []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Proto)
		mu.Unlock()
		if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
			w.Header().Set("Upgrade", "HTTP/1.1")
			w.WriteHeader(http.StatusUpgradeRequired)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(upstream.Close)
	lastProto := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return ""
		}
		return seen[len(seen)-1]
	}

	const key = "default.conf"
	site := fmt.Sprintf("server {\n    listen 127.0.0.1:%%d;\n\n    location / {\n        proxy_pass %s;\n    }\n}\n", upstream.URL)

	code, out := serveOnce(t, bin, site)
	if code != http.StatusUpgradeRequired || lastProto() != "HTTP/1.0" {
		t.Fatalf("original config: status %d, upstream saw %q; want 426 and HTTP/1.0 (nginx %s)\n%s", code, lastProto(), bin, out)
	}

	r := rewrite(map[string]string{key: site})
	fixed, ok := r.Changed[key]
	if !ok {
		t.Fatalf("nothing rewritten: %+v", r)
	}
	code, out = serveOnce(t, bin, fixed)
	if code != http.StatusOK || lastProto() != "HTTP/1.1" {
		t.Fatalf("rewritten config: status %d, upstream saw %q; want 200 and HTTP/1.1\n%s\n%s", code, lastProto(), fixed, out)
	}
}

// serveOnce starts nginx in the foreground with site (a server block whose
// listen port is a %d verb) on a free loopback port, sends one request,
// stops nginx and returns the status code and nginx's output.
func serveOnce(t *testing.T, bin, site string) (int, string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		code, out, err := tryServe(t, bin, site)
		if err == nil {
			return code, out
		}
		if attempt == 2 || !strings.Contains(out, "Address already in use") {
			t.Fatalf("nginx: %v\n%s", err, out)
		}
	}
}

func tryServe(t *testing.T, bin, site string) (int, string, error) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	main := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(fmt.Sprintf(site, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)
	defer stop()

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return 0, out.String(), errors.New("nginx exited before it listened")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, out.String(), errors.New("nginx did not listen within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatalf("request through nginx: %v\n%s", err, out.String())
	}
	resp.Body.Close()
	return resp.StatusCode, out.String(), nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a child's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
