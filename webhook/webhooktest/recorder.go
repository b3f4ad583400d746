// Package webhooktest has a recording imageset.Recorder for the webhook's
// unit, integration and benchmark tests. Pods are built with
// prepuller.dev/prepuller/test/builder.
package webhooktest

import (
	"sync"

	"prepuller.dev/prepuller/pkg/imageset"
)

// Recorder records sightings in memory. It is a real, if simple,
// imageset.Recorder: Record never blocks for long.
type Recorder struct {
	mu        sync.Mutex
	sightings []imageset.Sighting
}

var _ imageset.Recorder = &Recorder{}

// Record appends s.
func (r *Recorder) Record(s imageset.Sighting) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sightings = append(r.sightings, s)
}

// Sightings returns a copy of what was recorded.
func (r *Recorder) Sightings() []imageset.Sighting {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]imageset.Sighting(nil), r.sightings...)
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sightings = nil
}
