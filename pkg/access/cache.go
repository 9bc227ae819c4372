package access

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
)

// maxEntries bounds each cache: a flood of made-up tokens or users cannot
// grow it without limit.
const maxEntries = 1024

type entry[V any] struct {
	value   V
	expires time.Time
}

// cache is a small map with expiry, bounded to maxEntries.
type cache[V any] struct {
	mu  sync.Mutex
	m   map[string]entry[V]
	now func() time.Time
}

func (c *cache[V]) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *cache[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !c.clock().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *cache[V]) put(key string, v V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if c.m == nil {
		c.m = map[string]entry[V]{}
	}
	if len(c.m) >= maxEntries {
		// Expired entries go first; when none has expired, start over.
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxEntries {
			clear(c.m)
		}
	}
	c.m[key] = entry[V]{v, now.Add(ttl)}
}

func (c *cache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// decisionKey names a user and what they ask to do.
func decisionKey(u authenticationv1.UserInfo, a authorizationv1.SubjectAccessReviewSpec) string {
	groups := slices.Clone(u.Groups)
	slices.Sort(groups)
	what := ""
	if r := a.ResourceAttributes; r != nil {
		what = fmt.Sprintf("%s/%s/%s/%s/%s/%s", r.Verb, r.Group, r.Resource, r.Subresource, r.Namespace, r.Name)
	}
	if n := a.NonResourceAttributes; n != nil {
		what = n.Verb + " " + n.Path
	}
	return strings.Join([]string{u.UID, u.Username, strings.Join(groups, ","), what}, "\x00")
}
