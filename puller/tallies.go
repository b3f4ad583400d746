package puller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/render"
)

// talliesInterval is the shortest time between two writes of the
// DaemonSet's tallies alone (a metadata patch: no puller pod changes).
// Every DaemonSet write carries them too.
const talliesInterval = stateFlushInterval

// talliesSlack: a last use that moved by less than this is not worth a
// write on its own. Running pods are re-seen at every sync, so their
// images' last use moves all the time; the tallies only need to keep a
// rebuilt set from expiring or out-ranking images it should not.
const talliesSlack = time.Hour

// tallies are what the DaemonSet records of each active image, and the
// annotation's value: the most valuable images' when they do not all fit
// render.MaxTalliesBytes (only references near the longest possible, 400
// bytes, come near it). "" when nothing fits.
func tallies(ev imageset.Evaluation) (map[string]imageset.Tally, string) {
	out := make(map[string]imageset.Tally, len(ev.Ranked))
	for _, e := range ev.Ranked {
		out[e.Image] = imageset.Tally{Users: ev.Users[e.Image], LastSeen: e.LastSeen}
	}
	for n := len(ev.Ranked); ; {
		v, err := render.EncodeTallies(out)
		if err == nil || !errors.Is(err, render.ErrTalliesTooLarge) || n == 0 {
			return out, v
		}
		// Leave out the least valuable tenth, and try again.
		cut := max(1, n/10)
		for _, e := range ev.Ranked[n-cut : n] {
			delete(out, e.Image)
		}
		n -= cut
	}
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

// withTallies puts the annotation's value on a DaemonSet about to be
// written; an empty value (nothing could be encoded) leaves it without.
func withTallies(ds *appsv1.DaemonSet, v string) {
	if v == "" {
		return
	}
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[render.TalliesAnnotation] = v
}

// refreshTallies writes the tallies alone when they drifted and
// talliesInterval passed since they were last written: a merge patch of
// the one annotation, so it neither conflicts with the DaemonSet
// controller's status writes nor touches anything else. A failure is only
// logged: the next sync tries again, and nothing but a lost state needs
// them.
func (r *reconciler) refreshTallies(ctx context.Context, now time.Time, live *appsv1.DaemonSet, t map[string]imageset.Tally, v string) {
	if live == nil || v == "" || now.Sub(r.lastTallies) < talliesInterval || !talliesStale(live, t) {
		return
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{render.TalliesAnnotation: v}}})
	if err == nil {
		ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: live.Namespace, Name: live.Name}}
		err = r.client.Patch(ctx, ds, client.RawPatch(types.MergePatchType, patch))
	}
	if err != nil {
		logf.FromContext(ctx).Error(fmt.Errorf("writing the DaemonSet's tallies: %w", err), "Will retry at the next sync")
		return
	}
	r.lastTallies = now
	r.m.daemonSetWrites.WithLabelValues("tallies").Inc()
}
