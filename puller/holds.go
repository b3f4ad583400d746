package puller

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"prepuller.dev/prepuller/pkg/imageset"
)

// reportHolds says which images became held at this evaluation (see
// imageset.Hold): each counts once in prepuller_puller_images_refused_total,
// and one Warning Event on the DaemonSet lists them all. An image held at
// every sync is reported once, until it is no longer held.
func (r *reconciler) reportHolds(ev imageset.Evaluation, live *appsv1.DaemonSet) {
	held := map[string]bool{}
	var fresh []string
	for img, d := range ev.Decisions {
		if d.State != imageset.StateHeld {
			continue
		}
		held[img] = true
		if r.held[img] {
			continue
		}
		r.m.refused.WithLabelValues(string(d.Hold)).Inc()
		fresh = append(fresh, fmt.Sprintf("%s (%s)", img, d.Reason))
	}
	r.held = held
	if len(fresh) == 0 || live == nil {
		return
	}
	sort.Strings(fresh)
	r.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonImagesHeld, "Hold",
		"Not pulling %d images so that no one user takes over the pulled set: %s", len(fresh), joinNote(fresh))
}
