// Package vclock is the simulator's scaled clock: simulated time runs Scale
// times faster than the wall clock, so an hour of a JupyterHub cluster fits
// in a minute. Simulated times are durations since the start of the run.
package vclock

import (
	"context"
	"time"
)

// Clock maps wall time to simulated time. The zero value is not usable.
type Clock struct {
	start time.Time
	scale float64
}

// New starts a clock now.
func New(scale float64) *Clock {
	if scale <= 0 {
		scale = 1
	}
	return &Clock{start: time.Now(), scale: scale}
}

// Scale is how many simulated seconds pass per wall second.
func (c *Clock) Scale() float64 { return c.scale }

// Now is the simulated time since the start.
func (c *Clock) Now() time.Duration {
	return time.Duration(float64(time.Since(c.start)) * c.scale)
}

// Real converts a simulated duration to wall time.
func (c *Clock) Real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.scale)
}

// Sim converts a wall duration to simulated time.
func (c *Clock) Sim(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.scale)
}

// Until is the wall time left until simulated time t (negative when past).
func (c *Clock) Until(t time.Duration) time.Duration {
	return c.Real(t - c.Now())
}

// SleepUntil blocks until simulated time t or until ctx ends; it reports
// whether t was reached.
func (c *Clock) SleepUntil(ctx context.Context, t time.Duration) bool {
	d := c.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
