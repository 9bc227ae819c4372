package events

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

type sent struct{ ref, reason, note string }

type fakeSink struct {
	mu   sync.Mutex
	sent []sent
}

func (f *fakeSink) Eventf(regarding, _ runtime.Object, eventtype, reason, action, note string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := regarding.(*corev1.ObjectReference)
	f.sent = append(f.sent, sent{ref.Namespace + "/" + ref.Name, reason, fmt.Sprintf(note, args...)})
}

func newTest(t *testing.T) (*Recorder, *fakeSink) {
	t.Helper()
	sink := &fakeSink{}
	r, err := New(sink, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return r, sink
}

func count(r *Recorder, result string) int {
	return int(testutil.ToFloat64(r.total.WithLabelValues(result)))
}

func ref(name string) corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: "app", Name: name}
}

func TestRecordNeverBlocks(t *testing.T) {
	r, sink := newTest(t)
	// No worker runs: the queue fills, and what does not fit is dropped
	// and counted rather than waited for.
	done := make(chan struct{})
	go func() {
		for i := range QueueSize + 7 {
			r.Record(ref(fmt.Sprint(i)), ReasonWouldChange, "Admission", "n")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked on a full queue")
	}
	if got := count(r, "dropped_queue_full"); got != 7 {
		t.Errorf("dropped_queue_full = %d, want 7", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = r.Start(ctx); close(stopped) }()
	for deadline := time.Now().Add(10 * time.Second); count(r, "recorded")+count(r, "dropped_rate_limited") < QueueSize && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-stopped
	if got := count(r, "recorded"); got != Burst || len(sink.sent) != Burst {
		t.Errorf("recorded %d (%d sent), want the burst of %d at once", got, len(sink.sent), Burst)
	}
	if got := count(r, "dropped_rate_limited"); got != QueueSize-Burst {
		t.Errorf("dropped_rate_limited = %d, want %d", got, QueueSize-Burst)
	}
}

func TestRepeatsAreDroppedWithinTheWindow(t *testing.T) {
	r, sink := newTest(t)
	now := time.Unix(1796000000, 0)
	r.now = func() time.Time { return now }
	e := event{ref: ref("nginx"), reason: ReasonViolation, action: "Audit", note: "[nginx-http11] insert"}
	r.send(e)
	r.send(e)
	other := e
	other.note = "[nginx-http11] another finding"
	r.send(other)
	now = now.Add(DedupWindow)
	r.send(e)
	if len(sink.sent) != 3 || count(r, "duplicate") != 1 {
		t.Errorf("sent %v, %d duplicates; want the repeat inside the window dropped, the other note and the repeat after it sent", sink.sent, count(r, "duplicate"))
	}
	if s := sink.sent[0]; s.ref != "app/nginx" || s.reason != ReasonViolation || s.note != e.note {
		t.Errorf("sent %+v", s)
	}
}

func TestDedupMemoryIsBounded(t *testing.T) {
	r, _ := newTest(t)
	now := time.Unix(1796000000, 0)
	for i := range 3 * maxSeen {
		r.remember(fmt.Sprint(i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if len(r.seen) > maxSeen {
		t.Errorf("%d keys remembered, want at most %d", len(r.seen), maxSeen)
	}
}

func TestNotesFitTheEventsAPI(t *testing.T) {
	long := strings.Repeat("é", maxNote)
	got := truncate(long)
	if len(got) > maxNote || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("truncate gave %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	if truncate("short") != "short" {
		t.Error("a short note was changed")
	}
}
