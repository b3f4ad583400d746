package puller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// revertEventInterval is the shortest time between two DaemonSetEdited
// Events: a fight with another writer lasts as long as that writer runs.
const revertEventInterval = 10 * time.Minute

// specPrint identifies a rendered DaemonSet spec; "" if it cannot be
// encoded (then nothing is compared).
func specPrint(ds *appsv1.DaemonSet) string {
	data, err := json.Marshal(ds.Spec)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// noteRevert is called before a DaemonSet write, with the desired spec's
// print. When prepuller wants exactly what it wrote last and the live DaemonSet no longer matches it,
// another client changed it: a hand edit, or another controller that
// manages it too. prepuller writes it back (at most once per
// puller.writeInterval, so a fight never becomes a hot loop) and says so:
// prepuller_puller_daemonset_reverts_total, and a Warning Event at most
// every revertEventInterval.
func (r *reconciler) noteRevert(now time.Time, desiredPrint string, live *appsv1.DaemonSet) {
	if live == nil || r.lastWrittenSpec == "" || desiredPrint != r.lastWrittenSpec {
		return
	}
	r.m.reverts.Inc()
	if !r.lastRevertEvent.IsZero() && now.Sub(r.lastRevertEvent) < revertEventInterval {
		return
	}
	r.lastRevertEvent = now
	r.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonDaemonSetEdited, "Restore",
		"Another client changed this DaemonSet's spec since prepuller wrote it (generation %d); prepuller restores it, at most once per puller.writeInterval. Find the other writer in metadata.managedFields (kubectl get ds %s -n %s -o yaml --show-managed-fields) and stop it",
		live.Generation, live.Name, live.Namespace)
}
