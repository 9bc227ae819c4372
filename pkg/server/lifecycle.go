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

// closeWhenDraining answers every review that arrives while draining with
// Connection: close, so the API server's keep-alive connection (HTTP/1.1
// for webhooks reached through a Service) ends after that answer and its
// next review dials a ready replica. Without it the connection stays
// pooled until the server stops, and a review sent on it as it closes
// fails with EOF, which the API server does not retry.
func (l *lifecycle) closeWhenDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
