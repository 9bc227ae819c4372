package review

import (
	"context"
	"testing"
	"time"
)

// TestLimiterPools: small reviews draw from their own pool, so a full large
// pool leaves them room; a full pool turns a review away after the wait; a
// review larger than its pool takes it whole; release gives the bytes back.
func TestLimiterPools(t *testing.T) {
	l := NewLimiter(4 << 20) // small pool 1 MiB, large pool 3 MiB
	ctx := context.Background()
	const wait = 50 * time.Millisecond

	big, ok := l.acquire(ctx, 8<<20, wait)
	if !ok || big.n != 3<<20 {
		t.Fatalf("a review larger than the large pool must take it whole: ok=%v charge=%d", ok, big.n)
	}
	start := time.Now()
	if _, ok := l.acquire(ctx, 1<<20, wait); ok {
		t.Fatal("a large review got room in a full large pool")
	}
	if waited := time.Since(start); waited < wait {
		t.Fatalf("turned away after %v, before the wait of %v", waited, wait)
	}
	small, ok := l.acquire(ctx, 4<<10, wait)
	if !ok {
		t.Fatal("a small review was turned away while only the large pool was full")
	}
	small.release()
	big.release()
	again, ok := l.acquire(ctx, 1<<20, wait)
	if !ok {
		t.Fatal("released bytes did not come back")
	}
	again.release()
}

// TestLimiterWaitEndsWithRoom: a review that waits gets in as soon as the
// bytes it needs are released, within its wait.
func TestLimiterWaitEndsWithRoom(t *testing.T) {
	l := NewLimiter(4 << 20)
	held, ok := l.acquire(context.Background(), 3<<20, time.Second)
	if !ok {
		t.Fatal("the first review was turned away")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		held.release()
	}()
	c, ok := l.acquire(context.Background(), 2<<20, 10*time.Second)
	if !ok {
		t.Fatal("a waiting review did not get the released room")
	}
	c.release()
}

func TestNoLimiterAdmitsEverything(t *testing.T) {
	var l *Limiter = NewLimiter(0)
	c, ok := l.acquire(context.Background(), MaxBodyBytes, 0)
	if !ok {
		t.Fatal("no cap must admit every review")
	}
	c.release()
}

func TestAdmissionWait(t *testing.T) {
	if got := admissionWait(2 * time.Second); got != 250*time.Millisecond {
		t.Errorf("wait for a 2s budget = %v, want 250ms", got)
	}
	if got := admissionWait(400 * time.Millisecond); got != 100*time.Millisecond {
		t.Errorf("wait for a 400ms budget = %v, want a quarter of it", got)
	}
}
