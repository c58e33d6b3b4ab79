package kerberos

import (
	"context"
	"fmt"
	"sync"
)

// MEMORY: caches live in the process, by name, as MIT's cc_memory.c keeps
// them: every Package of the process sees the same MEMORY:name, nothing
// outside the process does, and a cache lasts until it is destroyed or the
// process ends. Loads and stores copy, so a caller wiping its copy leaves
// the cache intact; replacing or destroying a cache wipes its keys.

var memCaches struct {
	sync.Mutex
	m map[string]*ccache
}

// memoryCC is the MEMORY cache of that name.
type memoryCC string

func (m memoryCC) fullName() string { return "MEMORY:" + string(m) }

func (m memoryCC) load(context.Context) (*ccache, error) {
	memCaches.Lock()
	defer memCaches.Unlock()
	c := memCaches.m[string(m)]
	if c == nil {
		return nil, fmt.Errorf("%w: %s", errNoCCache, m.fullName())
	}
	return c.clone(), nil
}

func (m memoryCC) store(_ context.Context, c *ccache) error {
	n := c.clone()
	memCaches.Lock()
	defer memCaches.Unlock()
	if memCaches.m == nil {
		memCaches.m = make(map[string]*ccache)
	}
	memCaches.m[string(m)].wipe()
	memCaches.m[string(m)] = n
	return nil
}

func (m memoryCC) destroy(context.Context) error {
	memCaches.Lock()
	defer memCaches.Unlock()
	c := memCaches.m[string(m)]
	if c == nil {
		return fmt.Errorf("%w: %s", errNoCCache, m.fullName())
	}
	c.wipe()
	delete(memCaches.m, string(m))
	return nil
}
