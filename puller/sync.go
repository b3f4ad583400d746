package puller

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/quarantine"
	"prepuller.dev/prepuller/puller/render"
)

// Event reasons on the DaemonSet.
const (
	ReasonImageAdded          = "ImageAdded"
	ReasonImageRemoved        = "ImageRemoved"
	ReasonImageQuarantined    = "ImageQuarantined"
	ReasonPullSecretElsewhere = "PullSecretInOtherNamespace"
	ReasonStateCorrupt        = "StateCorrupt"
	ReasonStateNotSaved       = "StateNotSaved"
	ReasonInstallFailing      = "InstallFailing"
	ReasonImagesHeld          = "ImagesHeld"
	ReasonDaemonSetEdited     = "DaemonSetEdited"
	// ReasonPodImagesLimited is on the user pod, not the DaemonSet.
	ReasonPodImagesLimited = "ImagesLimited"
)

// stateFlushInterval bounds how stale persisted last-seen times get. The
// state is written at once when anything else changes (images, users,
// secrets, quarantine); last-seen times alone only every this often, so
// busy hubs do not write a ConfigMap every window. Losing them costs at
// most this much of an image's TTL, and running pods are re-seen at start.
const stateFlushInterval = 5 * time.Minute

// maxStateBytes keeps the state ConfigMap under the API server's 1 MiB
// object limit with room for metadata.
const maxStateBytes = 900 * 1024

// sync brings the set, the state and the DaemonSet up to date. It returns
// a non-zero time when a DaemonSet write had to wait (window or rollout).
func (r *reconciler) sync(ctx context.Context, now time.Time) (time.Time, error) {
	log := logf.FromContext(ctx)

	if err := r.learnFromPods(ctx, now); err != nil {
		return time.Time{}, err
	}
	var sizeOf func(string) (int64, bool)
	if r.inv != nil {
		sizeOf = r.inv.SizeOf
	}
	Prepare(r.set, r.static, sizeOf, now)

	// From the leader's cache, which holds exactly this DaemonSet: no API
	// call per sync.
	live, err := r.getDaemonSet(ctx, r.daemonSets)
	if err != nil {
		return time.Time{}, err
	}
	if err := r.checkPullers(ctx, now, live); err != nil {
		return time.Time{}, err
	}

	ev := r.set.Evaluate(now, r.opts.rules(r.policy.Allowed, live))
	r.reportHolds(now, ev, live)
	desired, err := r.render(r.everywhere(ev.Active), live)
	if err != nil {
		return time.Time{}, err
	}
	write := !render.UpToDate(desired, live)
	if !rolloutInProgress(live) {
		r.holdingSince = time.Time{} // the next rollout is timed afresh
	}
	r.progress.see(live, now)
	if rolloutInProgress(live) {
		r.m.rolloutStalled.Set(now.Sub(r.progress.at).Seconds())
	} else {
		r.m.rolloutStalled.Set(0)
	}
	if write {
		if until, why := r.holdWrite(now, live, ev); !until.IsZero() {
			r.m.writesHeld.WithLabelValues(why).Inc()
			r.updateMetrics(ev)
			r.persist(ctx, now, ev, live)
			return r.placeToo(ctx, now, ev, until)
		}
	}
	if write {
		for _, e := range ev.Active {
			if e.AddedAt == nil {
				t := now
				e.AddedAt = &t
			}
		}
	}
	r.set.Prune(now, r.opts.TTL.Duration)
	// State first: if the DaemonSet write then fails, the next sync (or the
	// next leader) still knows every image. A state that cannot be saved
	// must not stop the DaemonSet from following the images, though.
	r.persist(ctx, now, ev, live)
	t, tv := tallies(ev)
	if !write {
		r.refreshTallies(ctx, now, live, t, tv)
	}
	if write {
		withTallies(desired, tv)
		// Before the write: a create fills the object in with the API
		// server's defaults.
		spec := specPrint(desired)
		r.noteRevert(now, spec, live)
		written, err := r.writeDaemonSet(ctx, desired, live)
		if err != nil {
			return time.Time{}, err
		}
		r.lastWrittenSpec = spec
		r.lastWrite, r.lastTallies = now, now
		r.set.ClearAdded(ev.Active)
		r.holdingSince = time.Time{}
		r.announce(live, written, ev, now)
		log.Info("Wrote puller DaemonSet", "images", len(ev.Active), "generation", written.Generation)
	}
	r.updateMetrics(ev)
	return r.placeToo(ctx, now, ev, time.Time{})
}

// placeToo runs placement in demand mode, after the state is saved (a
// placement that fails loses no image), and returns the earlier of until
// and when placement wants to run again.
func (r *reconciler) placeToo(ctx context.Context, now time.Time, ev imageset.Evaluation, until time.Time) (time.Time, error) {
	if !r.demandMode() {
		return until, nil
	}
	again, err := r.place(ctx, now, ev)
	if err != nil {
		return time.Time{}, err
	}
	if until.IsZero() || (!again.IsZero() && again.Before(until)) {
		return again, nil
	}
	return until, nil
}

// holdWrite says until when a needed DaemonSet write must wait, and why;
// a zero time means write now. Every write replaces every puller pod, so a
// write is held for the window (one write per puller.writeInterval) and,
// up to puller.rolloutWait, until the DaemonSet controller has finished
// the previous rollout: on large clusters a rollout outlasts the window,
// and writing into it replaces pods that were just replaced. What is
// learned meanwhile goes out in one write when the rollout is done.
func (r *reconciler) holdWrite(now time.Time, live *appsv1.DaemonSet, ev imageset.Evaluation) (time.Time, string) {
	if until := r.lastWrite.Add(r.opts.WriteInterval.Duration); now.Before(until) {
		return until, "window"
	}
	wait := r.opts.RolloutWait.Duration
	if wait <= 0 || !rolloutInProgress(live) || unblocksRollout(live, ev) {
		return time.Time{}, ""
	}
	// A rollout that replaces no pod for a while is stuck, not slow: an
	// unreachable node whose old pod never terminates, or (below 100%
	// maxUnavailable) nodes whose new pods never become available.
	if now.Sub(r.progress.at) > stallAfter*r.opts.WriteInterval.Duration {
		return time.Time{}, ""
	}
	// The rollout started at our last write; one started by an earlier
	// leader is timed from when this one first held for it.
	since := r.lastWrite
	if since.IsZero() {
		if r.holdingSince.IsZero() {
			r.holdingSince = now
		}
		since = r.holdingSince
	}
	if until := since.Add(wait); now.Before(until) {
		return until, "rollout"
	}
	return time.Time{}, ""
}

// learnFromPods observes every live user pod in the cache and recounts the
// running pods per image. The webhook's sightings are not enough: pods
// created before install, while the webhook was down, or admitted by
// another replica are learned here.
func (r *reconciler) learnFromPods(ctx context.Context, now time.Time) error {
	var pods corev1.PodList
	// Read-only use (learn copies what it keeps): skip the cache's deep
	// copy of every pod at every sync.
	if err := r.userPods.List(ctx, &pods, client.MatchingLabelsSelector{Selector: r.scope.Selector}, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing user pods: %w", err)
	}
	r.learn(pods.Items, now)
	return nil
}

// checkPullers reads the puller pods and quarantines images that keep
// failing to pull.
func (r *reconciler) checkPullers(ctx context.Context, now time.Time, live *appsv1.DaemonSet) error {
	var pods corev1.PodList
	// One pod per node, only read: copying a thousand of them at every
	// sync is wasted work.
	if err := r.pullerPods.List(ctx, &pods, client.InNamespace(r.ns), client.MatchingLabelsSelector{Selector: r.pullerSel}, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing puller pods: %w", err)
	}
	rep := quarantine.DetectWith(pods.Items, r.opts.FailureMinNodes, r.norm)
	r.reportInstall(ctx, rep.Install, live)
	backoff := imageset.Backoff{
		Grace:   r.opts.FailureGracePeriod.Duration,
		Initial: r.opts.QuarantineBackoff.Duration,
		Max:     r.opts.QuarantineMaxBackoff.Duration,
	}
	for img := range rep.Pulled {
		r.set.MarkPulled(img, now)
	}
	for _, e := range r.set.Entries() {
		f, failing := rep.Failing[e.Image]
		if !failing {
			r.set.MarkNotFailing(e.Image)
			continue
		}
		if r.set.MarkFailing(e.Image, now, backoff, f.Reason) {
			q := r.set.Get(e.Image).Quarantine
			logf.FromContext(ctx).Info("Quarantined image that cannot be pulled", "image", e.Image, "reason", f.Reason, "retryAt", q.RetryAt, "attempt", q.Attempts)
			if live != nil {
				r.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonImageQuarantined, eventAction("Quarantine", e.Image),
					"Image %s cannot be pulled (%s); removed from the puller until %s (attempt %d)", e.Image, f.Reason, q.RetryAt.UTC().Format(time.RFC3339), q.Attempts)
			}
		}
	}
	return nil
}

// reportInstall says when the install container fails on enough nodes: a
// wrong puller.image or puller.noopPath. Every image waits behind it, but
// none fails itself, so quarantine never triggers and nothing else would
// tell. One Warning Event per episode; the gauge follows every sync.
func (r *reconciler) reportInstall(ctx context.Context, f *quarantine.Failure, live *appsv1.DaemonSet) {
	if f == nil {
		r.m.installFailing.Set(0)
		r.installWarned = false
		return
	}
	r.m.installFailing.Set(1)
	if r.installWarned {
		return
	}
	logf.FromContext(ctx).Error(nil, "Puller pods cannot install the no-op program; no image is pulled. Check puller.image and puller.noopPath",
		"image", f.Image, "noopPath", r.opts.NoopPath, "reason", f.Reason)
	if live != nil {
		r.installWarned = true
		r.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonInstallFailing, "Install",
			"Container %s (image %s, command %s) fails (%s); no image is pulled until puller.image or puller.noopPath is fixed",
			render.InstallContainerName, f.Image, r.opts.NoopPath, f.Reason)
	}
}

// getDaemonSet reads the puller DaemonSet from rd: the leader's cache at
// every sync, the uncached reader when loading or recovering the state.
// The object may be shared with the cache: never modify it.
func (r *reconciler) getDaemonSet(ctx context.Context, rd client.Reader) (*appsv1.DaemonSet, error) {
	return r.getDaemonSetNamed(ctx, rd, r.opts.DaemonSetName)
}

// getDaemonSetNamed reads one of the puller's DaemonSets; nil when absent.
func (r *reconciler) getDaemonSetNamed(ctx context.Context, rd client.Reader, name string) (*appsv1.DaemonSet, error) {
	var ds appsv1.DaemonSet
	err := rd.Get(ctx, types.NamespacedName{Namespace: r.ns, Name: name}, &ds)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading DaemonSet %s: %w", name, err)
	}
	return &ds, nil
}

// render builds the desired DaemonSet for the active images.
func (r *reconciler) render(active []*imageset.Entry, live *appsv1.DaemonSet) (*appsv1.DaemonSet, error) {
	images := make([]render.Image, 0, len(active))
	for _, e := range active {
		policy := corev1.PullIfNotPresent
		if e.PullAlways {
			policy = corev1.PullAlways
		}
		images = append(images, render.Image{Image: e.Image, PullPolicy: policy})
		r.warnForeignSecrets(e, live)
	}
	ds, err := render.DaemonSet(r.renderInput(images))
	if err != nil {
		return nil, fmt.Errorf("rendering puller DaemonSet: %w", err)
	}
	return ds, nil
}

// renderInput is what both puller DaemonSets are rendered from.
func (r *reconciler) renderInput(images []render.Image) render.Input {
	return render.Input{
		Name:              r.opts.DaemonSetName,
		Namespace:         r.ns,
		Labels:            objectLabels(r.opts),
		SelectorLabels:    selectorLabels(r.opts),
		PrepullerImage:    r.opts.Image,
		NoopPath:          r.opts.NoopPath,
		PauseImage:        r.opts.PauseImage,
		Images:            images,
		PullSecrets:       append(slices.Clone(r.opts.PullSecrets), r.opts.MirrorPullSecrets.Names...),
		Tolerations:       r.opts.Tolerations,
		NodeSelector:      r.opts.NodeSelector,
		NodeAffinity:      r.opts.NodeAffinity,
		PriorityClassName: r.opts.PriorityClassName,
		MaxUnavailable:    r.opts.MaxUnavailable,
	}
}

// warnForeignSecrets says, once per secret name, that a pull secret from
// another namespace cannot be used: a pod can only name secrets in its own
// namespace. One Warning per name, not per (image, namespace, secret): with
// per-user namespaces that would be one per user.
func (r *reconciler) warnForeignSecrets(e *imageset.Entry, live *appsv1.DaemonSet) {
	if live == nil {
		return
	}
	for _, name := range e.ForeignSecrets(r.ns) {
		if slices.Contains(r.opts.MirrorPullSecrets.Names, name) || !r.warned.first(name) {
			continue
		}
		r.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonPullSecretElsewhere, eventAction("UseSecret", name),
			"Image %s is pulled with secret %s from user pods' namespaces, which the puller cannot use from namespace %s; if nodes cannot pull the image without it, have prepuller copy it (puller.mirrorPullSecrets) or copy it there yourself and list it in puller.pullSecrets",
			e.Image, name, r.ns)
	}
}

// writeDaemonSet creates, updates or (when its immutable selector was
// changed) recreates the DaemonSet.
func (r *reconciler) writeDaemonSet(ctx context.Context, desired, live *appsv1.DaemonSet) (*appsv1.DaemonSet, error) {
	if live != nil && render.SelectorChanged(desired, live) {
		if err := r.client.Delete(ctx, live, client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting puller DaemonSet with a foreign selector: %w", err)
		}
		r.m.daemonSetWrites.WithLabelValues("recreate").Inc()
		live = nil
	}
	if live == nil {
		if err := r.client.Create(ctx, desired); err != nil {
			return nil, fmt.Errorf("creating puller DaemonSet: %w", err)
		}
		r.m.daemonSetWrites.WithLabelValues("create").Inc()
		return desired, nil
	}
	upd := render.ForUpdate(desired, live)
	err := r.client.Update(ctx, upd)
	if apierrors.IsConflict(err) {
		// The cached copy was behind: the DaemonSet controller writes the
		// status all through a rollout. Once more over a fresh read, so
		// the images do not wait for the next window; a second conflict
		// means someone else is writing, and the next sync looks again.
		fresh, gerr := r.getDaemonSet(ctx, r.reader)
		switch {
		case gerr != nil:
			return nil, gerr
		case fresh == nil || render.SelectorChanged(desired, fresh):
			return nil, fmt.Errorf("updating puller DaemonSet: it was deleted or replaced meanwhile: %w", err)
		}
		upd = render.ForUpdate(desired, fresh)
		err = r.client.Update(ctx, upd)
	}
	if err != nil {
		return nil, fmt.Errorf("updating puller DaemonSet: %w", err)
	}
	r.m.daemonSetWrites.WithLabelValues("update").Inc()
	return upd, nil
}

// announce emits one Event for the images a write added and one for those
// it removed, and records how long added images waited since first seen.
// One Event per write, not per image: a burst of new images must not queue
// a burst of Events behind the client's rate limit.
func (r *reconciler) announce(live, written *appsv1.DaemonSet, ev imageset.Evaluation, now time.Time) {
	before := daemonSetImages(live)
	after := daemonSetImages(written)
	var added []string
	for i, e := range ev.Ranked {
		if before[e.Image] || !after[e.Image] {
			continue
		}
		if e.AddedAt != nil && e.AddedAt.Equal(now) {
			r.m.firstSightToDaemonSet.Observe(now.Sub(e.FirstSeen).Seconds())
		}
		added = append(added, fmt.Sprintf("%s (rank %d, %d users)", e.Image, i+1, len(e.Users)))
	}
	var gone []string
	for img := range before {
		if after[img] {
			continue
		}
		why := "no longer learned"
		if d, ok := ev.Decisions[img]; ok {
			why = string(d.State)
			if d.Reason != "" {
				why += ": " + d.Reason
			}
		}
		gone = append(gone, fmt.Sprintf("%s (%s)", img, why))
	}
	sort.Strings(gone)
	write := fmt.Sprintf("generation %d", written.Generation)
	if len(added) > 0 {
		r.events.Eventf(written, nil, corev1.EventTypeNormal, ReasonImageAdded, eventAction("Pull", write),
			"Pulling %d new images on every node: %s", len(added), joinNote(added))
	}
	if len(gone) > 0 {
		r.events.Eventf(written, nil, corev1.EventTypeNormal, ReasonImageRemoved, eventAction("Unpull", write),
			"Stopped pulling %d images: %s", len(gone), joinNote(gone))
	}
}

// maxNote keeps an Event's note under the API server's 1 KiB limit with
// room for the sentence around the list.
const maxNote = 900

// joinNote lists items until maxNote, then says how many more there are.
func joinNote(items []string) string {
	var b strings.Builder
	for i, it := range items {
		if b.Len()+len(it) > maxNote {
			fmt.Fprintf(&b, "and %d more", len(items)-i)
			break
		}
		b.WriteString(it)
		if i < len(items)-1 {
			b.WriteString("; ")
		}
	}
	return b.String()
}

// daemonSetImages returns the normalized images a DaemonSet pulls (its
// install container excluded), as render reads its own output.
func daemonSetImages(ds *appsv1.DaemonSet) map[string]bool {
	out := map[string]bool{}
	for _, img := range render.Images(ds) {
		out[img] = true
	}
	return out
}

func (r *reconciler) updateMetrics(ev imageset.Evaluation) {
	for st, n := range ev.Count() {
		r.m.imagesByState.WithLabelValues(string(st)).Set(float64(n))
	}
	if r.inv == nil {
		return
	}
	if r.shared == nil {
		r.shared = map[string]bool{}
	}
	now := map[string]bool{}
	eligible := r.inv.EligibleNodes()
	for _, e := range ev.Active {
		now[e.Image] = true
		share := 0.0
		if eligible > 0 {
			share = float64(r.inv.HolderCount(e.Image)) / float64(eligible)
		}
		r.m.nodeShare.WithLabelValues(e.Image).Set(share)
	}
	for img := range r.shared {
		if !now[img] {
			r.m.nodeShare.DeleteLabelValues(img)
		}
	}
	r.shared = now
}
