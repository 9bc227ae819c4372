package nginx

import (
	"fmt"
	"strings"
)

// A shape is a hostile ConfigMap of about size bytes (keys and values
// together), written to hit one of the spots where a careless rewriter costs
// more than the size of its input: no newlines, one very long line, deep
// nesting, includes that fan out, one huge token, many keys.
type shape struct {
	name  string
	build func(size int) map[string]string
}

// shapes are the hostile inputs of the benchmarks, tests and fuzz seeds.
func shapes() []shape {
	return []shape{
		{"no-newline", func(n int) map[string]string {
			return map[string]string{"default.conf": repeatTo("server{location /{proxy_pass http://b;}}", n)}
		}},
		{"one-line", oneLine},
		{"deep", deep},
		{"include-fan-in", includeFanIn},
		{"include-bomb", func(n int) map[string]string {
			return manyKeys(n, func(i int) string { return fmt.Sprintf("location /%d { include *.conf; proxy_pass http://b; }\n", i) })
		}},
		{"glob-per-key", func(n int) map[string]string {
			return manyKeys(n, func(i int) string { return fmt.Sprintf("location / { include k%04d*; proxy_pass http://b; }\n", i/10) })
		}},
		{"huge-glob", func(n int) map[string]string {
			files := manyKeys(n/2, func(int) string { return "server { listen 80; }\n" })
			files["default.conf"] = "location / { include " + repeatTo("*a", n/2) + "; proxy_pass http://b; }\n"
			return files
		}},
		{"huge-token", func(n int) map[string]string {
			half := strings.Repeat("a", max(n/2-20, 1))
			return map[string]string{"default.conf": "location /" + half + " { proxy_pass http://" + half + "; }\n"}
		}},
		{"many-keys", func(n int) map[string]string {
			return manyKeys(n, func(int) string { return "server { location / { proxy_pass http://b; } }\n" })
		}},
	}
}

// repeatTo repeats unit until the result holds at least n bytes.
func repeatTo(unit string, n int) string {
	return strings.Repeat(unit, max(1, (n+len(unit)-1)/len(unit)))
}

// oneLine is one server whose locations all sit on a single line, every
// other one with a proxy_http_version 1.0 to switch in place.
func oneLine(n int) map[string]string {
	var b strings.Builder
	b.WriteString("server {")
	for i := 0; b.Len() < n; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, " location /l%d { proxy_pass http://b%d; }", i, i)
		} else {
			fmt.Fprintf(&b, " location /r%d { proxy_http_version 1.0; proxy_pass http://b%d; }", i, i)
		}
	}
	b.WriteString(" }\n")
	return map[string]string{"default.conf": b.String()}
}

// deep repeats servers whose locations nest as deep as parse allows, each
// level proxying, so every level gets its own insertion.
func deep(n int) map[string]string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString("server {\n")
		for d := 1; d < maxDepth; d++ {
			ind := strings.Repeat(" ", d)
			fmt.Fprintf(&b, "%slocation /d%d {\n%s proxy_pass http://b%d;\n", ind, d, ind, d)
		}
		for d := maxDepth - 1; d >= 1; d-- {
			b.WriteString(strings.Repeat(" ", d) + "}\n")
		}
		b.WriteString("}\n")
	}
	return map[string]string{"default.conf": b.String()}
}

// includeFanIn is many server values that each include the same glob of a
// few shared values: real work for every key, growing with the input.
func includeFanIn(n int) map[string]string {
	files := map[string]string{}
	size := 0
	for i := 0; i < 4; i++ {
		k, v := fmt.Sprintf("p%d.params", i), fmt.Sprintf("proxy_set_header X-P%d $host;\nproxy_connect_timeout 5s;\n", i)
		files[k] = v
		size += len(k) + len(v)
	}
	for i := 0; size < n; i++ {
		k := fmt.Sprintf("s%06d.conf", i)
		v := fmt.Sprintf("server {\n    listen 80;\n    server_name s%d;\n    location / {\n        include *.params;\n        proxy_pass http://b;\n    }\n}\n", i)
		files[k] = v
		size += len(k) + len(v)
	}
	return files
}

// manyKeys fills a ConfigMap of about n bytes with keys k000000.conf,
// k000001.conf, … holding value(i).
func manyKeys(n int, value func(i int) string) map[string]string {
	files := map[string]string{}
	size := 0
	for i := 0; size < n; i++ {
		k, v := fmt.Sprintf("k%06d.conf", i), value(i)
		files[k] = v
		size += len(k) + len(v)
	}
	return files
}

// configSize is the bytes of keys and values of files.
func configSize(files map[string]string) int {
	n := 0
	for k, v := range files {
		n += len(k) + len(v)
	}
	return n
}
