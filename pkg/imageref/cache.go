package imageref

import (
	"sync"
	"sync/atomic"
)

// Cache memoizes Normalize. Parsing a reference allocates, and the same few
// strings come back all the time: every user pod names the hub's images,
// every kubelet reports the same names. Safe for concurrent use; lookups
// take no lock.
//
// It is bounded: once it holds max strings it is emptied and refilled, so a
// flood of distinct references (users typing thousands of tags) costs
// re-parsing, never memory. Concurrent fills may overshoot max by one entry
// per concurrent caller. A nil *Cache normalizes without memoizing.
type Cache struct {
	max int64
	m   sync.Map // raw string -> cached
	n   atomic.Int64
}

// cached is one result; invalid references are remembered too, so a bad
// name a kubelet reports on every heartbeat is parsed once.
type cached struct {
	ref string
	err error
}

// NewCache returns a cache holding at most max references (at least 1).
func NewCache(max int) *Cache {
	if max < 1 {
		max = 1
	}
	return &Cache{max: int64(max)}
}

// Normalize is Normalize(raw), memoized.
func (c *Cache) Normalize(raw string) (string, error) {
	if c == nil {
		return Normalize(raw)
	}
	if v, ok := c.m.Load(raw); ok {
		r := v.(*cached)
		return r.ref, r.err
	}
	ref, err := Normalize(raw)
	if c.n.Load() >= c.max {
		// Full: start over rather than keep the first max strings forever
		// (they may be the junk and the hub's images the ones left out).
		c.m.Clear()
		c.n.Store(0)
	}
	if _, loaded := c.m.LoadOrStore(raw, &cached{ref: ref, err: err}); !loaded {
		c.n.Add(1)
	}
	return ref, err
}

// Len is about how many references are cached.
func (c *Cache) Len() int { return int(c.n.Load()) }
