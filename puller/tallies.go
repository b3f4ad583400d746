package puller

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/render"
)

// talliesInterval is the shortest time between two writes of the
// DaemonSet's tallies alone (a metadata update: no puller pod changes).
// Every DaemonSet write carries them too.
const talliesInterval = stateFlushInterval

// talliesSlack: a last use that moved by less than this is not worth a
// write on its own. Running pods are re-seen at every sync, so their
// images' last use moves all the time; the tallies only need to keep a
// rebuilt set from expiring or out-ranking images it should not.
const talliesSlack = time.Hour

// tallies are what the DaemonSet records of each active image.
func tallies(ev imageset.Evaluation) map[string]imageset.Tally {
	out := make(map[string]imageset.Tally, len(ev.Active))
	for _, e := range ev.Active {
		out[e.Image] = imageset.Tally{Users: ev.Users[e.Image], LastSeen: e.LastSeen}
	}
	return out
}

// talliesStale reports whether the DaemonSet's tallies differ from want
// enough to write them: another image set, other user counts, or a last
// use off by talliesSlack or more.
func talliesStale(live *appsv1.DaemonSet, want map[string]imageset.Tally) bool {
	have, err := render.Tallies(live)
	if err != nil || len(have) != len(want) {
		return true
	}
	for img, w := range want {
		h, ok := have[img]
		if !ok || h.Users != w.Users {
			return true
		}
		if d := w.LastSeen.Sub(h.LastSeen); d >= talliesSlack || d <= -talliesSlack {
			return true
		}
	}
	return false
}

// withTallies puts the tallies on a DaemonSet about to be written.
func withTallies(ds *appsv1.DaemonSet, t map[string]imageset.Tally) error {
	v, err := render.EncodeTallies(t)
	if err != nil {
		return err
	}
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[render.TalliesAnnotation] = v
	return nil
}

// refreshTallies writes the tallies alone when they drifted and
// talliesInterval passed since they were last written. A failure is only
// logged: the next sync tries again, and nothing but a lost state needs
// them.
func (r *reconciler) refreshTallies(ctx context.Context, now time.Time, live *appsv1.DaemonSet, t map[string]imageset.Tally) {
	if live == nil || now.Sub(r.lastTallies) < talliesInterval || !talliesStale(live, t) {
		return
	}
	// An update of a copy, not a patch: prepuller's RBAC has no patch on
	// DaemonSets, and a conflict only means the next sync looks again.
	upd := live.DeepCopy()
	err := withTallies(upd, t)
	if err == nil {
		err = r.client.Update(ctx, upd)
	}
	switch {
	case apierrors.IsConflict(err):
		// The DaemonSet controller writes the status all through a
		// rollout; the cached copy was behind.
		logf.FromContext(ctx).V(1).Info("DaemonSet changed while writing its tallies; will retry at the next sync")
		return
	case err != nil:
		logf.FromContext(ctx).Error(fmt.Errorf("writing the DaemonSet's tallies: %w", err), "Will retry at the next sync")
		return
	}
	r.lastTallies = now
	r.m.daemonSetWrites.WithLabelValues("tallies").Inc()
}
