package server

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// lifecycle orders shutdown: on the first signal readiness turns false, and
// only after the delay is the manager's context cancelled, which stops the
// listeners and waits for in-flight reviews.
type lifecycle struct {
	delay    time.Duration
	log      logr.Logger
	draining atomic.Bool
}

// run returns the manager's context: cancelled delay after parent is.
func (l *lifecycle) run(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	go func() {
		<-parent.Done()
		l.draining.Store(true)
		l.log.Info("shutting down: readiness is false, draining", "delay", l.delay.String())
		time.Sleep(l.delay)
		cancel()
	}()
	return ctx
}

func (l *lifecycle) readyz(_ *http.Request) error {
	if l.draining.Load() {
		return errors.New("shutting down")
	}
	return nil
}
