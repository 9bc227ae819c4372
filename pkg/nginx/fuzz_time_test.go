package nginx

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// maxFuzzBytes is the largest ConfigMap FuzzRewriteTime builds: half the
	// API server's limit, so that the time bound below is about the work
	// and not about the machine.
	maxFuzzBytes = 512 << 10
	// fuzzTimeLimit is what one Rewrite of such a ConfigMap may take. Linear
	// work on the worst shape known (tens of thousands of one-line values)
	// takes about two thirds of it on a quiet machine; anything quadratic
	// takes seconds.
	fuzzTimeLimit = 100 * time.Millisecond
)

// timeLimit is fuzzTimeLimit, doubled in a fuzzing worker: the coverage
// counters the fuzzer compiles into every package make the same work take
// about 1.6 times as long there.
func timeLimit() time.Duration {
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return 2 * fuzzTimeLimit
	}
	return fuzzTimeLimit
}

// FuzzRewriteTime looks for inputs that make Rewrite slow. An input is a
// head, a unit repeated count times and a tail; "{i}" in the unit stands
// for the repetition's number, so the repeated parts can differ (names,
// include patterns). With keys set, every repetition is a value of its own
// (keys k0.conf, k1.conf, …, each holding head, unit and tail); otherwise
// they make up one value. The ConfigMap is cut to 512 KiB. A run over
// 100 ms (see timeLimit), in wall time and in CPU time alike, is run three
// more times; if the fastest is still over, it fails the input only when it
// also took more than maxSlowdown times an ordinary config of the same size
// timed right then: the machine may be busy with something else, and the
// question is whether the input makes Rewrite do more than linear work.
//
//	go test ./pkg/nginx -run '^$' -fuzz '^FuzzRewriteTime$' -fuzztime 20s
func FuzzRewriteTime(f *testing.F) {
	for _, s := range timeSeeds() {
		f.Add(s.head, s.unit, s.tail, s.count, s.keys)
	}
	f.Fuzz(func(t *testing.T, head, unit, tail string, count uint32, keys bool) {
		files := repeatFiles(head, unit, tail, count, keys)
		if files == nil {
			return
		}
		limit := timeLimit()
		wall, cpu := timeRewrite(t, files)
		for i := 0; i < 3 && wall > limit && cpu > limit; i++ {
			w, c := timeRewrite(t, files)
			wall, cpu = min(wall, w), min(cpu, c)
		}
		if wall <= limit || cpu <= limit {
			return
		}
		// Over the limit: slow input, or a slow machine? Ask the machine,
		// now, how long the ordinary shape of the same size takes.
		refWall, refCPU := referenceTime(t, configSize(files))
		if wall > maxSlowdown*refWall && cpu > maxSlowdown*refCPU {
			t.Fatalf("Rewrite of %d values, %d bytes, took %v (%v of CPU) at best, over %v and over %d times the %v (%v of CPU) an ordinary config of that size takes now (unit %.80q, %d times)",
				len(files), configSize(files), wall, cpu, limit, maxSlowdown, refWall, refCPU, unit, count)
		}
		t.Logf("Rewrite of %d values, %d bytes, took %v (%v of CPU), over %v, but the machine is slow: an ordinary config of that size takes %v (%v of CPU) now", len(files), configSize(files), wall, cpu, limit, refWall, refCPU)
	})
}

// maxSlowdown is how much longer than an ordinary config of the same size
// an input may take: the worst linear shape known takes about three times
// as long; anything quadratic takes a hundred times as long and more.
const maxSlowdown = 8

// referenceTime is the fastest of three Rewrites of an ordinary config of
// size bytes (one value, one location after another, each needing the
// insert): the machine's speed at this moment, to judge an input by.
func referenceTime(t *testing.T, size int) (wall, cpu time.Duration) {
	unit := "location / { proxy_pass http://b; }\n"
	files := map[string]string{"default.conf": strings.Repeat(unit, max(size/len(unit), 1))}
	wall, cpu = timeRewrite(t, files)
	for range 2 {
		w, c := timeRewrite(t, files)
		wall, cpu = min(wall, w), min(cpu, c)
	}
	return wall, cpu
}

// repeatFiles builds the ConfigMap of a FuzzRewriteTime input, or nil for
// an input that makes none.
func repeatFiles(head, unit, tail string, count uint32, keys bool) map[string]string {
	if unit == "" || count == 0 || len(head)+len(tail) > maxFuzzBytes {
		return nil
	}
	n := int(min(count, maxFuzzBytes))
	files := map[string]string{}
	if keys {
		size := 0
		for i := range n {
			k := fmt.Sprintf("k%d.conf", i)
			v := head + expand(unit, i) + tail
			if size += len(k) + len(v); size > maxFuzzBytes {
				break
			}
			files[k] = v
		}
		return files
	}
	var b strings.Builder
	b.WriteString(head)
	for i := 0; i < n && b.Len()+len(tail) < maxFuzzBytes; i++ {
		b.WriteString(expand(unit, i))
	}
	v := b.String()
	v = v[:min(len(v), maxFuzzBytes-len(tail))] + tail
	files["default.conf"] = v
	return files
}

// expand puts i in place of every "{i}" in unit.
func expand(unit string, i int) string {
	if !strings.Contains(unit, "{i}") {
		return unit
	}
	return strings.ReplaceAll(unit, "{i}", strconv.Itoa(i))
}

// timeRewrite runs Rewrite once with a budget far beyond the limit (and
// short enough that a slow input fails soon, with the input saved) and
// returns how long it took, in wall time and in CPU time of the process.
// Each alone misleads on a shared machine: other processes stretch the
// wall time, and the collector working on the other core adds CPU time
// while the wall time runs on; an input is slow when both say so.
func timeRewrite(t *testing.T, files map[string]string) (wall, cpu time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*fuzzTimeLimit)
	defer cancel()
	start, cpu0 := time.Now(), cpuTime()
	r := Rewrite(ctx, files, Options{})
	wall, cpu = time.Since(start), cpuTime()-cpu0
	for k := range r.Changed {
		if _, ok := files[k]; !ok {
			t.Fatalf("changed key %q that does not exist", k)
		}
	}
	return wall, cpu
}

// timeSeed is one seed of FuzzRewriteTime.
type timeSeed struct {
	head, unit, tail string
	count            uint32
	keys             bool
}

// timeSeeds are the hostile shapes as FuzzRewriteTime inputs, and a few
// more spots that once cost more than their size.
func timeSeeds() []timeSeed {
	deepUnit := deep(1)["default.conf"]
	return []timeSeed{
		{"", "server{location /{proxy_pass http://b;}}", "", 1 << 20, false},
		{"", "location /{proxy_pass a;}", "", 1 << 20, false},
		{"server {", " location /l{i} { proxy_pass http://b{i}; } location /r{i} { proxy_http_version 1.0; proxy_pass http://b{i}; }", " }\n", 1 << 20, false},
		{"", deepUnit, "", 1 << 20, false},
		{"", "location /{i} { include *.conf; proxy_pass http://b; }\n", "", 1 << 20, true},
		{"", "location / { include k{i}*; proxy_pass http://b; }\n", "", 1 << 20, true},
		{"location / { proxy_pass http://", "a", "; }\n", 1 << 20, false},
		{"location / { include ", "*a", "; proxy_pass http://b; }\n", 1 << 20, false},
		{"location / { include [", "ab", "]*; proxy_pass http://b; }\n", 1 << 20, false},
		{"location / { include *", "{i}*", "; proxy_pass http://b; }\n", 1 << 20, true},
		{"location /", "x", " { proxy_pass http://b; }\n", 1 << 20, false},
		{"", "server { location / { proxy_pass http://b; } }\n", "", 1 << 20, true},
		{"", "proxy_pass a;", "", 1 << 20, true},
		{"location / {", " include /etc/nginx/x{i}.conf;", " proxy_pass http://b; }\n", 1 << 20, false},
		{"location / { proxy_pass", " # c\n", " http://b; }\n", 1 << 20, false},
		{"http { proxy_http_version 1.0;\n", "server { location / { proxy_pass http://b; } }\n", "}\n", 1 << 20, false},
		{"", "location / { if ($a) { proxy_pass http://b; } limit_except GET { proxy_pass http://b; } }\n", "", 1 << 20, false},
		{"", "location / { foo { bar { baz { proxy_set_header a b; } } } proxy_pass http://b; }\n", "", 1 << 20, false},
		{"", "location /a\\;{i} { proxy_pass \"http://b\\\"{i}\"; }\r\n", "", 1 << 20, false},
		{"", "location / { include k0.conf; proxy_pass http://b; }\n", "", 1 << 20, true},
		{"", "proxy_set_header a b;\n", "location / { proxy_pass http://b; }\n", 1 << 20, false},
		{"", "{", "", 1 << 20, false},
		{"location / { proxy_pass http://b; }\n", "# proxy_pass\n", "", 1 << 20, false},
	}
}
