// Package promutil registers prepuller's Prometheus series on the registry
// a component is given, instead of on a global one in init().
package promutil

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg, or returns the collector already registered
// there under the same description: two prepuller components in one
// process (tests that start two replicas) then share the series instead of
// failing. Any other registration error is returned.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
		return c, nil
	case errors.As(err, &are):
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
		return c, err
	default:
		return c, err
	}
}

// Registrar registers collectors one after another and keeps the first
// error, so a component lists its series without a check after each.
type Registrar struct {
	Reg prometheus.Registerer
	Err error
}

// Add registers c on r.Reg (see Register) and returns what to use.
func Add[T prometheus.Collector](r *Registrar, c T) T {
	got, err := Register(r.Reg, c)
	if err != nil && r.Err == nil {
		r.Err = err
	}
	return got
}
