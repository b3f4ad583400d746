// Package imageset holds the learned image set: every image seen in a
// singleuser pod, with who used it and when, ranked and expired by the puller.
package imageset

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Source says where a sighting came from.
type Source string

const (
	// SourceWebhook is a sighting reported by the admission webhook.
	SourceWebhook Source = "webhook"
	// SourceWatch is a sighting from the puller's watch on user pods.
	SourceWatch Source = "watch"
)

// Sighting is one image seen in one user pod. Image is already normalized
// (see package imageref).
type Sighting struct {
	Image       string
	Namespace   string
	Pod         string
	User        string // hub.jupyter.org/username annotation, when present
	PullSecrets []string
	PullPolicy  corev1.PullPolicy
	Time        time.Time
	Source      Source
}

// Recorder takes sightings. Implementations must never block the caller:
// the admission webhook calls Record on the request path.
type Recorder interface {
	Record(Sighting)
}
