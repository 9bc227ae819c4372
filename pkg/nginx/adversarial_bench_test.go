package nginx

import (
	"context"
	"testing"
)

// hostileSizes are the sizes every shape is benchmarked at: cost per KiB
// that stays flat from the smallest to the largest shows the work is linear.
var hostileSizes = []struct {
	name  string
	bytes int
}{{"64KiB", 64 << 10}, {"256KiB", 256 << 10}, {"1MiB", 1 << 20}}

// BenchmarkNginxHostile runs Rewrite on every hostile shape at 64 KiB,
// 256 KiB and 1 MiB and reports the cost per KiB of input: wall time
// ("ns/KiB") and process CPU time, GC included ("cpu-ns/KiB"), which a
// shared, loaded machine disturbs less.
//
//	go test ./pkg/nginx -run '^$' -bench NginxHostile -count 5
func BenchmarkNginxHostile(b *testing.B) {
	for _, sh := range shapes() {
		for _, size := range hostileSizes {
			files := sh.build(size.bytes)
			kib := float64(configSize(files)) / 1024
			b.Run(sh.name+"/"+size.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(configSize(files)))
				ctx := context.Background()
				cpu := cpuTime()
				for b.Loop() {
					Rewrite(ctx, files, Options{})
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/kib, "ns/KiB")
				b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N)/kib, "cpu-ns/KiB")
			})
		}
	}
}
