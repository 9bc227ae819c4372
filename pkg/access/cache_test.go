package access

import (
	"fmt"
	"testing"
	"time"
)

func TestCacheExpiresAndStaysBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &cache[bool]{now: func() time.Time { return now }}
	c.put("a", true, time.Minute)
	if v, hit := c.get("a"); !hit || !v {
		t.Fatal("a fresh entry is not served")
	}
	now = now.Add(time.Minute)
	if _, hit := c.get("a"); hit {
		t.Fatal("an expired entry is served")
	}
	for i := range maxEntries {
		ttl := time.Minute
		if i%2 == 0 {
			ttl = time.Second
		}
		c.put(fmt.Sprint(i), true, ttl)
	}
	now = now.Add(2 * time.Second)
	c.put("one more", true, time.Minute)
	if n := c.len(); n != maxEntries/2+1 {
		t.Fatalf("%d entries after a full cache dropped its expired ones, want %d", n, maxEntries/2+1)
	}
	for i := range maxEntries {
		c.put(fmt.Sprint("live", i), true, time.Hour)
	}
	if n := c.len(); n > maxEntries {
		t.Fatalf("%d entries, over the bound of %d", n, maxEntries)
	}
}
