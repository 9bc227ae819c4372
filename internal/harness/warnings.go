package harness

import (
	"slices"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// Warnings records the warnings (HTTP 299 Warning headers) the API server
// returns to the clients of one rest.Config, which is where admission
// webhook warnings reach kubectl and every other client-go user.
type Warnings struct {
	mu   sync.Mutex
	list []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *Warnings) HandleWarningHeader(code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// Take returns the warnings received since the last Take and forgets them.
func (w *Warnings) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// Config returns a copy of cfg whose clients' warnings w records.
func (w *Warnings) Config(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	cfg.WarningHandlerWithContext = nil
	return cfg
}

// Containing returns the warnings in list that contain every one of parts.
func Containing(list []string, parts ...string) []string {
	var out []string
	for _, w := range list {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(w, p) }) {
			out = append(out, w)
		}
	}
	return out
}
