package puller

import (
	appsv1 "k8s.io/api/apps/v1"

	"prepuller.dev/prepuller/puller/imageset"
)

// rolloutInProgress reports whether the DaemonSet controller has not yet
// given every node a puller pod of the live template. Readiness is not
// asked for: a pod still pulling, or backing off on a bad image, has been
// replaced already, and waiting for pulls would let one slow or broken node
// hold every write.
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

// unblocksRollout reports whether the desired DaemonSet drops an image the
// live one pulls because it was quarantined. Such a write must not wait for
// the rollout: the failing image is what holds it up, on every node, since
// init containers run in order.
func unblocksRollout(live *appsv1.DaemonSet, ev imageset.Evaluation) bool {
	for _, img := range pullOrder(live) {
		if d, ok := ev.Decisions[img]; ok && d.State == imageset.StateQuarantined {
			return true
		}
	}
	return false
}
