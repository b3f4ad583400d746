// Package imageset holds the learned image set: every image seen in a
// singleuser pod, with who used it and when, ranked and expired by the puller.
package imageset

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Sighting is one image seen in one user pod that exists. Image is already
// normalized (see package imageref).
type Sighting struct {
	Image       string
	Namespace   string
	Pod         string
	User        string // see userpod.User
	PullSecrets []string
	PullPolicy  corev1.PullPolicy
	Time        time.Time
}

// Admission is what the webhook saw of one user pod it admitted. It is a
// candidate, not a sighting: a later admission plugin may still reject the
// pod, or the review may not come from the API server at all. The puller
// learns the pod's images once the pod exists.
type Admission struct {
	Namespace string
	// Name, or GenerateName when the API server names the pod later.
	Name, GenerateName string
	// Images is how many distinct valid images the pod names.
	Images int
	Time   time.Time
}

// Recorder takes admissions. Implementations must never block the caller:
// the admission webhook calls Admitted on the request path.
type Recorder interface {
	Admitted(Admission)
}
