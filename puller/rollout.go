package puller

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/render"
)

// rolloutInProgress reports whether the DaemonSet controller has not yet
// given every node a puller pod of the live template. Readiness is not
// asked for directly: with maxUnavailable 100% (the default) a pod still
// pulling, or backing off on a bad image, counts as replaced. Below 100%
// the controller replaces more pods only as new ones become available, so
// there this does wait for pulls; a rollout that stops moving is let go
// (stallAfter).
func rolloutInProgress(ds *appsv1.DaemonSet) bool {
	if ds == nil {
		return false
	}
	st := ds.Status
	if st.ObservedGeneration < ds.Generation {
		return true
	}
	return st.UpdatedNumberScheduled < st.DesiredNumberScheduled
}

// stallAfter: a rollout that replaced no puller pod for this many write
// intervals no longer holds writes.
const stallAfter = 6

// rolloutProgress remembers when the live DaemonSet's rollout last moved.
type rolloutProgress struct {
	generation int64
	updated    int32
	at         time.Time
}

// see records live's rollout state, restarting the clock when it moved.
func (p *rolloutProgress) see(live *appsv1.DaemonSet, now time.Time) {
	if live == nil {
		*p = rolloutProgress{at: now}
		return
	}
	gen, upd := live.Generation, live.Status.UpdatedNumberScheduled
	if p.at.IsZero() || gen != p.generation || upd != p.updated {
		*p = rolloutProgress{generation: gen, updated: upd, at: now}
	}
}

// unblocksRollout reports whether the desired DaemonSet drops an image the
// live one pulls because it was quarantined. Such a write must not wait for
// the rollout: the failing image is what holds it up, on every node, since
// init containers run in order.
func unblocksRollout(live *appsv1.DaemonSet, ev imageset.Evaluation) bool {
	for _, img := range render.Images(live) {
		if d, ok := ev.Decisions[img]; ok && d.State == imageset.StateQuarantined {
			return true
		}
	}
	return false
}
