package review

import (
	"context"
	"sync"
	"time"
)

// budget bounds one review like context.WithTimeout, but makes its timer only
// when something waits on Done. Most reviews are decided from memory and
// never wait, so they skip the timer and its allocations; Err reports the
// deadline either way, which is what rules that poll it (the nginx
// rewriter) read. Contexts derived from it (an API call on a cache miss)
// wait on Done and get the real timer.
type budget struct {
	context.Context // the parent: values and cancellation

	deadline time.Time

	mu       sync.Mutex
	done     <-chan struct{}
	cancel   context.CancelFunc
	released bool
}

func newBudget(parent context.Context, d time.Duration) *budget {
	return newBudgetUntil(parent, time.Now().Add(d))
}

// newBudgetUntil is newBudget ending at deadline, or at the parent's if earlier.
func newBudgetUntil(parent context.Context, deadline time.Time) *budget {
	if pd, ok := parent.Deadline(); ok && pd.Before(deadline) {
		deadline = pd
	}
	return &budget{Context: parent, deadline: deadline}
}

// Deadline implements context.Context.
func (b *budget) Deadline() (time.Time, bool) { return b.deadline, true }

// Done implements context.Context; the first call starts the timer.
func (b *budget) Done() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done == nil {
		ctx, cancel := context.WithDeadline(b.Context, b.deadline)
		if b.released {
			cancel()
		}
		b.done, b.cancel = ctx.Done(), cancel
	}
	return b.done
}

// Err implements context.Context.
func (b *budget) Err() error {
	if err := b.Context.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	released := b.released
	b.mu.Unlock()
	switch {
	case released:
		return context.Canceled
	case !time.Now().Before(b.deadline):
		return context.DeadlineExceeded
	}
	return nil
}

// release ends the budget as a CancelFunc would: the timer, if any, stops and
// anything still holding the context sees it cancelled.
func (b *budget) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.released = true
	if b.cancel != nil {
		b.cancel()
	}
}
