package hostile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func (f *fixture) concurrentKeys(t *testing.T) {
	body := review(t, "", "v1", "ConfigMap", ns, configMap(keys(20_000, "server{location /{proxy_pass http://b;}}")))
	var wg sync.WaitGroup
	answers := make([]answer, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Go(func() { answers[i], errs[i] = f.p.post(context.Background(), "/mutate", body) })
	}
	wg.Wait()
	for i, a := range answers {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
			continue
		}
		decided(t, fmt.Sprintf("20,000 keys, request %d of 8 (%d KiB)", i, len(body)>>10), a)
		if a.status == http.StatusOK && len(a.patch) > 0 {
			t.Errorf("request %d: patched, want the ConfigMap left as written (the change would take it past 1 MiB)", i)
		}
	}
	f.checkMemory(t)
}

func (f *fixture) abandoned(t *testing.T) {
	body := review(t, "", "v1", "ConfigMap", ns, configMap(map[string]string{"default.conf": repeatTo("server{location /{proxy_pass http://b;}}", 3<<20)}))
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			if _, err := f.p.post(ctx, "/mutate", body); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("abandoned request: %v", err)
			}
		})
	}
	wg.Wait()
	// Work that outlived its client would run on for up to the budget each;
	// what may still run after the budget has passed is at most a request's
	// tail, far from twelve budgets' worth of CPU.
	time.Sleep(budget + 500*time.Millisecond)
	before, err := f.w.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	after, err := f.w.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CPU used in the 2 s after the abandoned reviews' budget: %s", after-before)
	if after-before > 400*time.Millisecond {
		t.Errorf("the webhook used %s of CPU in 2 s after twelve abandoned reviews' budget ran out: abandoned work still runs", after-before)
	}
}

func (f *fixture) stillHealthy(t *testing.T) {
	checkStory(t, f.p.mustPost(t, "/mutate", storyReview(t)))
	f.checkMemory(t)
}

// checkMemory asserts the process's peak resident memory so far stayed under
// the chart's memory limit.
func (f *fixture) checkMemory(t *testing.T) {
	t.Helper()
	m, err := f.w.Memory()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("webhook memory: RSS %d MiB, peak %d MiB (limit %d MiB)", m.RSS>>20, m.Peak>>20, memoryLimit>>20)
	if m.Peak >= memoryLimit {
		t.Errorf("peak RSS %d MiB reached the chart's limit of %d MiB: in a pod that is an OOMKill", m.Peak>>20, memoryLimit>>20)
	}
}
