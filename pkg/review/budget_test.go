package review

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBudgetActsAsWithTimeout: without a wait on Done the budget still
// reports its deadline through Err; a wait on Done ends at the deadline;
// release cancels; a parent's cancellation and earlier deadline pass through.
func TestBudgetActsAsWithTimeout(t *testing.T) {
	t.Run("Err reports the deadline without a timer", func(t *testing.T) {
		b := newBudget(context.Background(), 20*time.Millisecond)
		defer b.release()
		if err := b.Err(); err != nil {
			t.Fatalf("Err before the deadline = %v", err)
		}
		time.Sleep(30 * time.Millisecond)
		if err := b.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Err after the deadline = %v, want DeadlineExceeded", err)
		}
		if b.done != nil {
			t.Fatal("a timer was made although nothing waited on Done")
		}
	})
	t.Run("Done closes at the deadline", func(t *testing.T) {
		b := newBudget(context.Background(), 20*time.Millisecond)
		defer b.release()
		select {
		case <-b.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed 5 s after a 20 ms deadline")
		}
		if err := b.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Err = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("derived contexts end with it", func(t *testing.T) {
		b := newBudget(context.Background(), 20*time.Millisecond)
		defer b.release()
		ctx, cancel := context.WithCancel(b)
		defer cancel()
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a derived context outlived the budget")
		}
	})
	t.Run("release cancels, before and after Done", func(t *testing.T) {
		b := newBudget(context.Background(), time.Hour)
		b.release()
		if err := b.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err after release = %v, want Canceled", err)
		}
		select {
		case <-b.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed after release")
		}
		b = newBudget(context.Background(), time.Hour)
		done := b.Done()
		b.release()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed by release")
		}
	})
	t.Run("the parent's cancellation and earlier deadline pass through", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Minute)
		b := newBudget(parent, time.Hour)
		defer b.release()
		if d, _ := b.Deadline(); d.After(time.Now().Add(2 * time.Minute)) {
			t.Fatalf("deadline %v is not the parent's", d)
		}
		cancel()
		if err := b.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err after the parent's cancel = %v, want Canceled", err)
		}
		select {
		case <-b.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed by the parent's cancel")
		}
	})
}
