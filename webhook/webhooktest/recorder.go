// Package webhooktest has a recording imageset.Recorder for the webhook's
// unit, integration and benchmark tests. Pods are built with
// prepuller.dev/prepuller/test/builder.
package webhooktest

import (
	"sync"

	"prepuller.dev/prepuller/pkg/imageset"
)

// Recorder records admissions in memory. It is a real, if simple,
// imageset.Recorder: Admitted never blocks for long.
type Recorder struct {
	mu         sync.Mutex
	admissions []imageset.Admission
}

var _ imageset.Recorder = &Recorder{}

// Admitted appends a.
func (r *Recorder) Admitted(a imageset.Admission) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.admissions = append(r.admissions, a)
}

// Admissions returns a copy of what was recorded.
func (r *Recorder) Admissions() []imageset.Admission {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]imageset.Admission(nil), r.admissions...)
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.admissions = nil
}
