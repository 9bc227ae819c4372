package nginx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	crossplane "github.com/nginxinc/nginx-go-crossplane"
)

// benchConfig generates a full nginx.conf of about size bytes: servers with
// locations that proxy, some with proxy_http_version set (1.0 or 1.1), some
// serving files, with comments and an upstream per server.
func benchConfig(size int) string {
	var b strings.Builder
	b.WriteString("# generated for benchmarks\nworker_processes 1;\nevents {\n    worker_connections 1024;\n}\n\nhttp {\n    sendfile on;\n")
	for i := 0; b.Len() < size-64; i++ {
		fmt.Fprintf(&b, "\n    upstream app%d {\n        server app%d.internal:8080;\n        keepalive 8;\n    }\n", i, i)
		fmt.Fprintf(&b, "\n    server {\n        listen 80;\n        server_name s%d.example.com;\n", i)
		if i%4 == 3 {
			b.WriteString("        proxy_http_version 1.1;\n")
		}
		fmt.Fprintf(&b, "\n        location / {\n            # proxy to the app\n            proxy_set_header Host $host;\n            proxy_pass http://app%d;\n        }\n", i)
		fmt.Fprintf(&b, "\n        location /api/ {\n            proxy_http_version 1.0;\n            proxy_set_header X-Real-IP $remote_addr;\n            proxy_pass http://app%d/api/;\n        }\n", i)
		b.WriteString("\n        location /static/ {\n            root /srv/www;\n            expires 1d;\n        }\n    }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// naiveRewrite is the obvious approach the benchmark compares against:
// crossplane.Parse the value, fix the payload (every location that proxies
// gets proxy_http_version 1.1), crossplane.Build it back. It also loses
// the user's formatting, which is why the package does not work this way.
func naiveRewrite(src string) (string, error) {
	payload, err := crossplane.Parse("nginx.conf", &crossplane.ParseOptions{
		SingleFile:                true,
		ParseComments:             true,
		SkipDirectiveContextCheck: true,
		Open: func(string) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(src)), nil
		},
	})
	if err != nil {
		return "", err
	}
	if len(payload.Errors) > 0 {
		return "", payload.Errors[0].Error
	}
	var fix func(ds crossplane.Directives) crossplane.Directives
	fix = func(ds crossplane.Directives) crossplane.Directives {
		proxies, set := false, false
		for _, d := range ds {
			switch d.Directive {
			case "proxy_pass":
				proxies = true
			case "proxy_http_version":
				set = true
				d.Args = []string{"1.1"}
			}
			if d.Block != nil {
				d.Block = fix(d.Block)
			}
		}
		if proxies && !set {
			ds = append(crossplane.Directives{{Directive: "proxy_http_version", Args: []string{"1.1"}}}, ds...)
		}
		return ds
	}
	cfg := payload.Config[0]
	cfg.Parsed = fix(cfg.Parsed)
	var out bytes.Buffer
	if err := crossplane.Build(&out, cfg, &crossplane.BuildOptions{}); err != nil {
		return "", err
	}
	return out.String(), nil
}

// BenchmarkNginxRewrite compares Rewrite with the parse-and-rebuild approach
// on generated configs of 2 KiB, 200 KiB and 1 MiB.
func BenchmarkNginxRewrite(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"2KiB", 2 << 10}, {"200KiB", 200 << 10}, {"1MiB", 1 << 20}} {
		src := benchConfig(size.bytes)
		files := map[string]string{"nginx.conf": src}
		if r := Rewrite(context.Background(), files, Options{}); len(r.Edits) == 0 || len(r.Skipped) > 0 {
			b.Fatalf("%s: benchmark input needs no edits or is skipped: %+v", size.name, r.Skipped)
		}
		b.Run(size.name+"/baseline", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := naiveRewrite(src); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(size.name+"/meshguard", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			defer reportCPU(b)()
			ctx := context.Background()
			for b.Loop() {
				r := Rewrite(ctx, files, Options{})
				if len(r.Changed) != 1 {
					b.Fatal("no change")
				}
			}
		})
	}
}

// reportCPU adds the process CPU time per operation (user+system, GC
// included) as "cpu-ns/op": on a shared, loaded machine wall time per
// operation says more about the neighbours than about the code.
func reportCPU(b *testing.B) func() {
	before := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
