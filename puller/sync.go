package puller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"prepuller.dev/prepuller/pkg/imageref"
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
// a non-zero time when a DaemonSet write had to wait for the window.
func (c *controller) sync(ctx context.Context) (time.Time, error) {
	log := logf.FromContext(ctx)
	now := c.clock.Now()

	if err := c.learnFromPods(ctx, now); err != nil {
		return time.Time{}, err
	}
	c.set.SetStatic(c.static, now)
	if c.inv != nil {
		for _, e := range c.set.Entries() {
			if size, ok := c.inv.SizeOf(e.Image); ok {
				e.Size = size
			}
		}
	}

	// From the manager's cache, which holds exactly this DaemonSet
	// (CacheByObject): no API call per sync.
	live, err := c.getDaemonSet(ctx, c.client)
	if err != nil {
		return time.Time{}, err
	}
	if err := c.checkPullers(ctx, now, live); err != nil {
		return time.Time{}, err
	}

	ev := c.set.Evaluate(now, imageset.Rules{
		TTL:            c.opts.TTL.Duration,
		MaxImages:      c.opts.MaxImages,
		NodeByteBudget: c.opts.NodeByteBudget,
		MinUsers:       c.opts.MinUsers,
		Allowed:        c.policy.Allowed,
	})
	desired, err := c.render(ev.Active, live)
	if err != nil {
		return time.Time{}, err
	}
	write := !render.UpToDate(desired, live)
	realNow := time.Now()
	if !rolloutInProgress(live) {
		c.holdingSince = time.Time{} // the next rollout is timed afresh
	}
	c.progress.see(live, realNow)
	if write {
		if until, why := c.holdWrite(realNow, live, ev); !until.IsZero() {
			writesHeld.WithLabelValues(why).Inc()
			c.updateMetrics(ev)
			c.persist(ctx, ev, live)
			return until, nil
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
	c.set.Prune(now, c.opts.TTL.Duration)
	// State first: if the DaemonSet write then fails, the next sync (or the
	// next leader) still knows every image. A state that cannot be saved
	// must not stop the DaemonSet from following the images, though.
	c.persist(ctx, ev, live)
	if write {
		written, err := c.writeDaemonSet(ctx, desired, live)
		if err != nil {
			return time.Time{}, err
		}
		c.lastWrite = time.Now()
		c.holdingSince = time.Time{}
		c.announce(live, written, ev, now)
		log.Info("Wrote puller DaemonSet", "images", len(ev.Active), "generation", written.Generation)
	}
	c.updateMetrics(ev)
	return time.Time{}, nil
}

// holdWrite says until when a needed DaemonSet write must wait, and why;
// a zero time means write now. Every write replaces every puller pod, so a
// write is held for the window (one write per puller.writeInterval) and,
// up to puller.rolloutWait, until the DaemonSet controller has finished
// the previous rollout: on large clusters a rollout outlasts the window,
// and writing into it replaces pods that were just replaced. What is
// learned meanwhile goes out in one write when the rollout is done.
func (c *controller) holdWrite(realNow time.Time, live *appsv1.DaemonSet, ev imageset.Evaluation) (time.Time, string) {
	if until := c.lastWrite.Add(c.opts.WriteInterval.Duration); realNow.Before(until) {
		return until, "window"
	}
	wait := c.opts.RolloutWait.Duration
	if wait <= 0 || !rolloutInProgress(live) || unblocksRollout(live, ev) {
		return time.Time{}, ""
	}
	// A rollout that replaces no pod for a while is stuck, not slow: an
	// unreachable node whose old pod never terminates, or (below 100%
	// maxUnavailable) nodes whose new pods never become available.
	if realNow.Sub(c.progress.at) > stallAfter*c.opts.WriteInterval.Duration {
		return time.Time{}, ""
	}
	// The rollout started at our last write; one started by an earlier
	// leader is timed from when this one first held for it.
	since := c.lastWrite
	if since.IsZero() {
		if c.holdingSince.IsZero() {
			c.holdingSince = realNow
		}
		since = c.holdingSince
	}
	if until := since.Add(wait); realNow.Before(until) {
		return until, "rollout"
	}
	return time.Time{}, ""
}

// learnFromPods observes every live user pod in the cache and recounts the
// running pods per image. The webhook's sightings are not enough: pods
// created before install, while the webhook was down, or admitted by
// another replica are learned here.
func (c *controller) learnFromPods(ctx context.Context, now time.Time) error {
	var pods corev1.PodList
	// Read-only use (learn copies what it keeps): skip the cache's deep
	// copy of every pod at every sync.
	if err := c.cache.List(ctx, &pods, client.MatchingLabelsSelector{Selector: c.userSel}, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing user pods: %w", err)
	}
	c.learn(pods.Items, now)
	return nil
}

// checkPullers reads the puller pods and quarantines images that keep
// failing to pull.
func (c *controller) checkPullers(ctx context.Context, now time.Time, live *appsv1.DaemonSet) error {
	var pods corev1.PodList
	// One pod per node, only read: copying a thousand of them at every
	// sync is wasted work.
	if err := c.cache.List(ctx, &pods, client.InNamespace(c.ns), client.MatchingLabelsSelector{Selector: c.pullerSel}, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing puller pods: %w", err)
	}
	rep := quarantine.Detect(pods.Items, c.opts.FailureMinNodes)
	c.reportInstall(ctx, rep.Install, live)
	backoff := imageset.Backoff{
		Grace:   c.opts.FailureGracePeriod.Duration,
		Initial: c.opts.QuarantineBackoff.Duration,
		Max:     c.opts.QuarantineMaxBackoff.Duration,
	}
	for img := range rep.Pulled {
		c.set.MarkPulled(img, now)
	}
	for _, e := range c.set.Entries() {
		f, failing := rep.Failing[e.Image]
		if !failing {
			c.set.MarkNotFailing(e.Image)
			continue
		}
		if c.set.MarkFailing(e.Image, now, backoff, f.Reason) {
			q := c.set.Get(e.Image).Quarantine
			logf.FromContext(ctx).Info("Quarantined image that cannot be pulled", "image", e.Image, "reason", f.Reason, "retryAt", q.RetryAt, "attempt", q.Attempts)
			if live != nil {
				c.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonImageQuarantined, eventAction("Quarantine", e.Image),
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
func (c *controller) reportInstall(ctx context.Context, f *quarantine.Failure, live *appsv1.DaemonSet) {
	if f == nil {
		installFailing.Set(0)
		c.installWarned = false
		return
	}
	installFailing.Set(1)
	if c.installWarned {
		return
	}
	logf.FromContext(ctx).Error(nil, "Puller pods cannot install the no-op program; no image is pulled. Check puller.image and puller.noopPath",
		"image", f.Image, "noopPath", c.opts.NoopPath, "reason", f.Reason)
	if live != nil {
		c.installWarned = true
		c.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonInstallFailing, "Install",
			"Container %s (image %s, command %s) fails (%s); no image is pulled until puller.image or puller.noopPath is fixed",
			render.InstallContainerName, f.Image, c.opts.NoopPath, f.Reason)
	}
}

// getDaemonSet reads the puller DaemonSet from r: the cached client at
// every sync, the uncached reader when loading or recovering the state.
// The object may be shared with the cache: never modify it.
func (c *controller) getDaemonSet(ctx context.Context, r client.Reader) (*appsv1.DaemonSet, error) {
	var ds appsv1.DaemonSet
	err := r.Get(ctx, types.NamespacedName{Namespace: c.ns, Name: c.opts.DaemonSetName}, &ds)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading puller DaemonSet: %w", err)
	}
	return &ds, nil
}

// render builds the desired DaemonSet for the active images.
func (c *controller) render(active []*imageset.Entry, live *appsv1.DaemonSet) (*appsv1.DaemonSet, error) {
	secrets := append([]string(nil), c.opts.PullSecrets...)
	images := make([]render.Image, 0, len(active))
	for _, e := range active {
		policy := corev1.PullIfNotPresent
		if e.PullAlways {
			policy = corev1.PullAlways
		}
		images = append(images, render.Image{Image: e.Image, PullPolicy: policy})
		secrets = append(secrets, e.PullSecrets[c.ns]...)
		c.warnForeignSecrets(e, live)
	}
	ds, err := render.DaemonSet(render.Input{
		Name:              c.opts.DaemonSetName,
		Namespace:         c.ns,
		Labels:            objectLabels(c.opts),
		SelectorLabels:    selectorLabels(c.opts),
		PrepullerImage:    c.opts.Image,
		NoopPath:          c.opts.NoopPath,
		PauseImage:        c.opts.PauseImage,
		Images:            images,
		PullSecrets:       secrets,
		Tolerations:       c.opts.Tolerations,
		NodeSelector:      c.opts.NodeSelector,
		NodeAffinity:      c.opts.NodeAffinity,
		PriorityClassName: c.opts.PriorityClassName,
		MaxUnavailable:    c.opts.MaxUnavailable,
	})
	if err != nil {
		return nil, fmt.Errorf("rendering puller DaemonSet: %w", err)
	}
	return ds, nil
}

// warnForeignSecrets says, once per image and secret, that a pull secret
// from another namespace cannot be used: a pod can only name secrets in its
// own namespace.
func (c *controller) warnForeignSecrets(e *imageset.Entry, live *appsv1.DaemonSet) {
	for ns, names := range e.PullSecrets {
		if ns == c.ns {
			continue
		}
		for _, name := range names {
			key := e.Image + "|" + ns + "/" + name
			if c.warned[key] || live == nil {
				continue
			}
			c.warned[key] = true
			c.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonPullSecretElsewhere, eventAction("UseSecret", ns+"/"+name+" "+e.Image),
				"Image %s is pulled with secret %s/%s, which the puller cannot use from namespace %s; copy it there and list it in puller.pullSecrets if nodes cannot pull the image without it",
				e.Image, ns, name, c.ns)
		}
	}
}

// writeDaemonSet creates, updates or (when its immutable selector was
// changed) recreates the DaemonSet.
func (c *controller) writeDaemonSet(ctx context.Context, desired, live *appsv1.DaemonSet) (*appsv1.DaemonSet, error) {
	if live != nil && render.SelectorChanged(desired, live) {
		if err := c.client.Delete(ctx, live, client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting puller DaemonSet with a foreign selector: %w", err)
		}
		daemonSetWrites.WithLabelValues("recreate").Inc()
		live = nil
	}
	if live == nil {
		if err := c.client.Create(ctx, desired); err != nil {
			return nil, fmt.Errorf("creating puller DaemonSet: %w", err)
		}
		daemonSetWrites.WithLabelValues("create").Inc()
		return desired, nil
	}
	upd := render.ForUpdate(desired, live)
	err := c.client.Update(ctx, upd)
	if apierrors.IsConflict(err) {
		// The cached copy was behind: the DaemonSet controller writes the
		// status all through a rollout. Once more over a fresh read, so
		// the images do not wait for the next window; a second conflict
		// means someone else is writing, and the next sync looks again.
		fresh, gerr := c.getDaemonSet(ctx, c.reader)
		switch {
		case gerr != nil:
			return nil, gerr
		case fresh == nil || render.SelectorChanged(desired, fresh):
			return nil, fmt.Errorf("updating puller DaemonSet: it was deleted or replaced meanwhile: %w", err)
		}
		upd = render.ForUpdate(desired, fresh)
		err = c.client.Update(ctx, upd)
	}
	if err != nil {
		return nil, fmt.Errorf("updating puller DaemonSet: %w", err)
	}
	daemonSetWrites.WithLabelValues("update").Inc()
	return upd, nil
}

// announce emits an Event per image added to or removed from the DaemonSet
// and records how long added images waited since first seen.
func (c *controller) announce(live, written *appsv1.DaemonSet, ev imageset.Evaluation, now time.Time) {
	before := daemonSetImages(live)
	after := daemonSetImages(written)
	for i, e := range ev.Ranked {
		if before[e.Image] {
			continue
		}
		if e.AddedAt != nil && e.AddedAt.Equal(now) {
			firstSightToDaemonSet.Observe(now.Sub(e.FirstSeen).Seconds())
		}
		c.events.Eventf(written, nil, corev1.EventTypeNormal, ReasonImageAdded, eventAction("Pull", e.Image),
			"Pulling %s on every node (rank %d, %d users)", e.Image, i+1, len(e.Users))
	}
	var gone []string
	for img := range before {
		if !after[img] {
			gone = append(gone, img)
		}
	}
	sort.Strings(gone)
	for _, img := range gone {
		why := "no longer learned"
		if d, ok := ev.Decisions[img]; ok {
			why = string(d.State)
			if d.Reason != "" {
				why += ": " + d.Reason
			}
		}
		c.events.Eventf(written, nil, corev1.EventTypeNormal, ReasonImageRemoved, eventAction("Unpull", img),
			"Stopped pulling %s (%s)", img, why)
	}
}

// daemonSetImages returns the normalized images a DaemonSet pulls (its
// install container excluded).
func daemonSetImages(ds *appsv1.DaemonSet) map[string]bool {
	out := map[string]bool{}
	for _, img := range pullOrder(ds) {
		out[img] = true
	}
	return out
}

// pullOrder returns the normalized images a DaemonSet pulls, in its init
// container order.
func pullOrder(ds *appsv1.DaemonSet) []string {
	if ds == nil {
		return nil
	}
	var out []string
	for _, ctr := range ds.Spec.Template.Spec.InitContainers {
		if ctr.Name == render.InstallContainerName || !strings.HasPrefix(ctr.Name, "pull-") {
			continue
		}
		if img, err := imageref.Normalize(ctr.Image); err == nil {
			out = append(out, img)
		}
	}
	return out
}

func (c *controller) updateMetrics(ev imageset.Evaluation) {
	for st, n := range ev.Count() {
		imagesByState.WithLabelValues(string(st)).Set(float64(n))
	}
	if c.inv == nil {
		return
	}
	if c.shared == nil {
		c.shared = map[string]bool{}
	}
	now := map[string]bool{}
	eligible := c.inv.EligibleNodes()
	for _, e := range ev.Active {
		now[e.Image] = true
		share := 0.0
		if eligible > 0 {
			share = float64(c.inv.HolderCount(e.Image)) / float64(eligible)
		}
		nodeShare.WithLabelValues(e.Image).Set(share)
	}
	for img := range c.shared {
		if !now[img] {
			nodeShare.DeleteLabelValues(img)
		}
	}
	c.shared = now
}
