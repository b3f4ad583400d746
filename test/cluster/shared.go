package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Shared is one control plane for all tests of a package that want it,
// started on first use (so tests that need none never pay for it) and
// stopped by Stop from TestMain.
type Shared struct {
	// Options start the cluster; Setup, when set, runs once after it starts
	// (e.g. installing CRDs).
	Options Options
	Setup   func(*Cluster) error

	once sync.Once
	c    *Cluster
	err  error
}

// Config starts the cluster if needed and returns a copy of its admin
// configuration, failing the test if it cannot start.
func (s *Shared) Config(t testing.TB) *rest.Config {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if s.c, s.err = Start(ctx, s.Options); s.err != nil || s.Setup == nil {
			return
		}
		s.err = s.Setup(s.c)
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return rest.CopyConfig(s.c.Config)
}

// Stop stops the cluster if it was started.
func (s *Shared) Stop() {
	if s.c != nil {
		_ = s.c.Stop()
	}
}
