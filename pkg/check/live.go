package check

import (
	"context"

	"github.com/meshguard/meshguard/pkg/cluster"
)

// Reviewer reviews single objects read from a live cluster exactly as Run
// reviews manifests (as their CREATE, mutating rules first, through the same
// engines), so the server's background audit and check never disagree.
type Reviewer struct{ r *runner }

// NewReviewer builds the rules of o on c. Only Rules, Off and
// AllowExemptions of o are used.
func NewReviewer(c cluster.Reader, o Options) *Reviewer {
	return &Reviewer{r: newRunner(c, o)}
}

// Review returns what the rules find on one object, given as JSON with its
// apiVersion and kind; the findings carry no file or line. A non-nil error
// means a rule could not decide (for example the namespace could not be read).
func (v *Reviewer) Review(ctx context.Context, apiVersion, kind, namespace, name string, raw []byte) ([]Finding, error) {
	o := &Object{APIVersion: apiVersion, Kind: kind, Namespace: namespace, Name: name, raw: raw}
	if err := v.r.review(ctx, o); err != nil {
		return nil, err
	}
	return o.Findings, nil
}
