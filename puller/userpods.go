package puller

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
)

// watchNorm memoizes the watch's normalization: every sync lists every
// live user pod, and they name the same few images.
var watchNorm = imageref.NewCache(4096)

// learn observes the live user pods among pods and rebuilds what only live
// pods say: how many run each image, and whether any of them asks for
// imagePullPolicy Always. Pods the webhook leaves alone (other namespaces,
// not user pods, the prepuller.dev/skip opt-out) are left alone here too.
func (c *controller) learn(pods []corev1.Pod, now time.Time) {
	running := map[string]int{}
	always := map[string]bool{}
	counted := make(map[types.UID]bool, len(pods))
	for i := range pods {
		p := &pods[i]
		if p.Namespace == c.ns || c.scope.CheckPod(p) != userpod.In || p.DeletionTimestamp != nil ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		counted[p.UID] = true
		for _, s := range PodSightings(p, now, imageset.SourceWatch) {
			if c.counted[p.UID] {
				// Seen at an earlier sync: refresh the user, but do
				// not count the pod again once it has left the
				// entry's bounded list of recent pods.
				s.Pod = ""
			}
			c.set.Observe(s)
			running[s.Image]++
			if s.PullPolicy == corev1.PullAlways {
				always[s.Image] = true
			}
		}
	}
	c.counted = counted
	c.set.SetRunning(running)
	// Observe keeps the pull policy of the newest sighting, but every pod
	// of one sync is seen at the same instant, so the first pod listed
	// would win and the DaemonSet's policy would flip with list order.
	// Decide from all live pods instead: Always if any asks for it.
	for img := range running {
		if e := c.set.Get(img); e != nil {
			e.PullAlways = always[img]
		}
	}
}

// PodSightings returns one sighting per distinct image of a user pod: init
// and regular containers and the prepuller.dev/extra-images annotation,
// normalized, listed exactly as the webhook lists them (userpod.PodImages).
// Invalid references are skipped: the pod cannot start with them either.
func PodSightings(p *corev1.Pod, now time.Time, src imageset.Source) []imageset.Sighting {
	images, _ := userpod.PodImages(p, watchNorm)
	if len(images) == 0 {
		return nil
	}
	var secrets []string
	for _, s := range p.Spec.ImagePullSecrets {
		secrets = append(secrets, s.Name)
	}
	user := userpod.User(p.Namespace, p.Name, p.Annotations, p.Labels)
	out := make([]imageset.Sighting, 0, len(images))
	for _, img := range images {
		out = append(out, imageset.Sighting{
			Image: img.Ref, Namespace: p.Namespace, Pod: p.Name, User: user,
			PullSecrets: secrets, PullPolicy: img.PullPolicy, Time: now, Source: src,
		})
	}
	return out
}
