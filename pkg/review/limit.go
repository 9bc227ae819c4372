package review

import (
	"context"
	"time"

	"golang.org/x/sync/semaphore"
)

// SmallBody is the largest review that draws from the pool kept for small
// reviews. Nearly every review the API server sends is a few KiB; a
// separate pool keeps them answered while large uploads, honest or stalled
// on purpose, hold all the room large reviews may take.
const SmallBody = 64 << 10

// maxAdmissionWait bounds how long a review waits for room under the cap:
// past it the API server is better served by a quick 503, which its
// failurePolicy turns into a decision, than by a queue that eats the budget.
const maxAdmissionWait = 250 * time.Millisecond

// Limiter caps the bytes held by reviews in flight, so memory is bounded by
// construction rather than by how many uploads a client opens. A review is
// charged its declared body size for its whole life, not only while its body
// is read: decoding and the rules need memory in proportion to it.
type Limiter struct {
	small, large pool
}

type pool struct {
	sem  *semaphore.Weighted
	size int64
}

// NewLimiter caps reviews in flight at maxBytes: a quarter (at least
// SmallBody) for reviews of at most SmallBody bytes, the rest for larger
// ones. It returns nil, no cap, when maxBytes is not positive.
func NewLimiter(maxBytes int64) *Limiter {
	if maxBytes <= 0 {
		return nil
	}
	small := max(maxBytes/4, SmallBody)
	large := max(maxBytes-small, SmallBody)
	return &Limiter{
		small: pool{sem: semaphore.NewWeighted(small), size: small},
		large: pool{sem: semaphore.NewWeighted(large), size: large},
	}
}

// charge is what one review holds; the zero charge holds nothing.
type charge struct {
	p *pool
	n int64
}

func (c charge) release() {
	if c.p != nil {
		c.p.sem.Release(c.n)
	}
}

// acquire charges a review of n bytes, waiting at most wait for room; ok is
// false when none came free in time. A review larger than its pool takes the
// whole pool, so it runs alone rather than never.
func (l *Limiter) acquire(ctx context.Context, n int64, wait time.Duration) (c charge, ok bool) {
	if l == nil {
		return charge{}, true
	}
	p := &l.large
	if n <= SmallBody {
		p = &l.small
	}
	c = charge{p: p, n: min(n, p.size)}
	// The fast path makes no timer: almost every review finds room at once.
	if p.sem.TryAcquire(c.n) {
		return c, true
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := p.sem.Acquire(ctx, c.n); err != nil {
		return charge{}, false
	}
	return c, true
}

// admissionWait is how long a review may wait for room: a quarter of its
// budget, at most maxAdmissionWait.
func admissionWait(budget time.Duration) time.Duration {
	return min(maxAdmissionWait, budget/4)
}
