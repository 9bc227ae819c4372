package main

// What the run reads from the processes it measures: CPU time from
// /proc/<pid>/stat, memory from /proc/<pid>/smaps_rollup and the webhook's
// /metrics.

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpu returns the webhook process's user+system CPU time so far.
func (w *webhook) cpu() time.Duration { return procCPU(w.Pid()) }

// childNamed finds this process's child whose command is name (envtest's
// kube-apiserver), or 0.
func childNamed(name string) int {
	dirs, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		comm, rest, ok := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if ok && len(f) > 1 && f[1] == self && strings.HasSuffix(comm, "("+name) {
			return pid
		}
	}
	return 0
}

// memory reads smaps_rollup and the heap metric of the webhook process.
func (w *webhook) memory() (Memory, error) {
	m, err := w.smaps()
	if err != nil {
		return m, err
	}
	m.HeapInuse, err = w.heapInuse()
	return m, err
}

// smaps reads the webhook process's smaps_rollup.
func (w *webhook) smaps() (Memory, error) {
	var m Memory
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", w.Pid()))
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Rss:":
			m.RSS = kb << 10
		case "Anonymous:":
			m.Anonymous = kb << 10
		case "Private_Clean:", "Private_Dirty:":
			m.Private += kb << 10
		}
	}
	return m, sc.Err()
}

func (w *webhook) heapInuse() (uint64, error) {
	heap, _, err := w.heapAndGCs()
	return heap, err
}

// heapAndGCs reads go_memstats_heap_inuse_bytes and the number of completed
// GC cycles (go_gc_duration_seconds_count) from the webhook's /metrics.
func (w *webhook) heapAndGCs() (heap, gcs uint64, err error) {
	const h, g = "go_memstats_heap_inuse_bytes", "go_gc_duration_seconds_count"
	m, err := w.scrape(h, g)
	if err != nil {
		return 0, 0, err
	}
	if _, ok := m[h]; !ok {
		return 0, 0, errors.New("/metrics lacks " + h)
	}
	if _, ok := m[g]; !ok {
		return 0, 0, errors.New("/metrics lacks " + g)
	}
	return uint64(m["go_memstats_heap_inuse_bytes"]), uint64(m["go_gc_duration_seconds_count"]), nil
}

// webhookRequests is how many admission reviews the webhook has answered:
// controller_runtime_webhook_requests_total summed over its paths and codes
// (0 before the first).
func (w *webhook) webhookRequests() (float64, error) {
	const name = "controller_runtime_webhook_requests_total"
	m, err := w.scrape(name)
	return m[name], err
}

// scrape reads the webhook's /metrics and returns each named metric summed
// over its series; a name without a series is missing from the map.
func (w *webhook) scrape(names ...string) (map[string]float64, error) {
	resp, err := http.Get("http://" + w.MetricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	out := map[string]float64{}
	for sc.Scan() {
		line := sc.Text()
		for _, name := range names {
			rest, ok := strings.CutPrefix(line, name)
			if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
				continue
			}
			if rest[0] == '{' {
				rest = rest[strings.LastIndex(rest, "}")+1:]
			}
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				return nil, fmt.Errorf("/metrics line %q has no value", line)
			}
			f, err := strconv.ParseFloat(fields[0], 64)
			if err != nil {
				return nil, fmt.Errorf("/metrics line %q: %w", line, err)
			}
			out[name] += f
		}
	}
	return out, sc.Err()
}

// settledHeap waits for the namespace cache to catch up, then scrapes
// /metrics every 10 ms (each scrape allocates, which drives the otherwise
// idle process's GC) until three more GC cycles have completed, and keeps
// the smallest heap seen after the first of them: the live heap plus what
// was allocated since the last cycle, so garbage left from earlier work
// does not count.
func (w *webhook) settledHeap(count int) (NamespacePoint, error) {
	time.Sleep(3 * time.Second)
	p := NamespacePoint{Count: count}
	_, gc0, err := w.heapAndGCs()
	if err != nil {
		return p, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		heap, gcs, err := w.heapAndGCs()
		if err != nil {
			return p, err
		}
		if gcs > gc0 && (p.Heap == 0 || heap < p.Heap) {
			p.Heap = heap
			if p.Mem, err = w.memory(); err != nil {
				return p, err
			}
		}
		if gcs >= gc0+3 {
			return p, nil
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("webhook ran %d GC cycles in 60 s of scraping, want 3", gcs-gc0)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type memSampler struct {
	stopc chan struct{}
	done  chan Memory
}

// sample reads the webhook's memory until stop, keeping the maximum of each
// field: smaps_rollup every period (the kernel does that work, not the
// webhook), the heap from /metrics only every heapEvery, about as often as
// Prometheus scrapes, so the measurement does not add a scrape's CPU and
// garbage to every 100 ms of the load it measures.
func (w *webhook) sample(period, heapEvery time.Duration) *memSampler {
	s := &memSampler{stopc: make(chan struct{}), done: make(chan Memory, 1)}
	go func() {
		var peak Memory
		var lastHeap time.Time
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			m, err := w.smaps()
			if err == nil && time.Since(lastHeap) >= heapEvery {
				lastHeap = time.Now()
				m.HeapInuse, err = w.heapInuse()
			}
			if err == nil {
				peak = maxMemory(peak, m)
			}
			select {
			case <-s.stopc:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *memSampler) stop() Memory {
	close(s.stopc)
	return <-s.done
}

func maxMemory(a, b Memory) Memory {
	return Memory{Anonymous: max(a.Anonymous, b.Anonymous), Private: max(a.Private, b.Private), RSS: max(a.RSS, b.RSS), HeapInuse: max(a.HeapInuse, b.HeapInuse)}
}
