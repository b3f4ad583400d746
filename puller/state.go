package puller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/render"
)

// StateKey is the ConfigMap key holding the image set as JSON.
const StateKey = "state.json"

// load reads the persisted set. A missing ConfigMap starts from what the
// live DaemonSet pulls. A corrupt one is kept aside in a new ConfigMap (so
// nothing is lost), reported, and replaced by the same recovery.
func (r *reconciler) load(ctx context.Context) error {
	log := logf.FromContext(ctx)
	var cm corev1.ConfigMap
	err := r.reader.Get(ctx, types.NamespacedName{Namespace: r.ns, Name: r.opts.StateConfigMapName}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		log.Info("No puller state yet; starting from the live DaemonSet", "configMap", r.opts.StateConfigMapName)
		return r.recover(ctx)
	case err != nil:
		return fmt.Errorf("reading puller state: %w", err)
	}
	data, ok := cm.Data[StateKey]
	if !ok {
		return r.recover(ctx)
	}
	set, err := imageset.Decode([]byte(data))
	if err == nil {
		set.SetOwnNamespace(r.ns)
		r.set = set
		r.savedData = data
		r.savedPrint = set.Fingerprint()
		r.lastState = r.clock.Now()
		log.Info("Loaded puller state", "images", set.Len())
		return nil
	}
	// Corrupt: keep the payload, say so, and rebuild. The copy is named
	// after the corrupt object's resourceVersion, so a retry after a
	// failed recovery finds its copy (AlreadyExists) instead of adding
	// another large ConfigMap per attempt.
	backup := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      corruptCopyName(r.opts.StateConfigMapName, cm.ResourceVersion),
			Namespace: r.ns,
			Labels:    objectLabels(r.opts),
		},
		Data: map[string]string{StateKey: data},
	}
	if cerr := r.client.Create(ctx, backup); cerr != nil && !apierrors.IsAlreadyExists(cerr) {
		return fmt.Errorf("puller state %s/%s is corrupt (%v) and keeping a copy failed: %w", r.ns, r.opts.StateConfigMapName, err, cerr)
	}
	log.Error(err, "Puller state is corrupt; kept a copy and rebuilding from the live DaemonSet and pods",
		"configMap", r.opts.StateConfigMapName, "copy", backup.Name)
	r.events.Eventf(&cm, nil, corev1.EventTypeWarning, ReasonStateCorrupt, "Load",
		"State is corrupt (%v); copied to ConfigMap %s and rebuilt from the live DaemonSet and user pods", err, backup.Name)
	if err := r.recover(ctx); err != nil {
		return err
	}
	// Force a write: the corrupt payload must not be read again.
	r.savedPrint = "corrupt"
	return nil
}

// corruptCopyName names the copy of a corrupt state: one per corrupt
// version. Resource versions are decimal in practice; anything else is
// hashed so the name stays valid.
func corruptCopyName(name, resourceVersion string) string {
	v := resourceVersion
	if v == "" || len(v) > 20 || strings.Trim(v, "0123456789") != "" {
		sum := sha256.Sum256([]byte(resourceVersion))
		v = hex.EncodeToString(sum[:6])
	}
	return name + "-corrupt-" + v
}

// recover seeds the set with the images the live DaemonSet pulls, in its
// order, ranked by the tallies it records, so a lost or corrupt state
// neither shrinks, reorders (rolls) nor re-ranks the DaemonSet; user pods
// are learned at the first sync as always. It
// reads the API server, not the cache: this runs once, before the first
// sync, and must see the DaemonSet as it is.
func (r *reconciler) recover(ctx context.Context) error {
	live, err := r.getDaemonSet(ctx, r.reader)
	if err != nil {
		return err
	}
	tallies, err := render.Tallies(live)
	if err != nil {
		// Hand-edited or garbled: recover the images without their
		// ranks rather than not at all.
		logf.FromContext(ctx).Error(err, "Ignoring the puller DaemonSet's tallies; recovered images rank as used by one user")
	}
	var placed *appsv1.DaemonSet
	if r.demandMode() {
		if placed, err = r.getDaemonSetNamed(ctx, r.reader, PlacedName(r.opts)); err != nil {
			return err
		}
	}
	images := recoverImages(render.Images(live), placed, tallies, r.opts.PauseImage)
	r.set = imageset.New()
	r.set.SetOwnNamespace(r.ns)
	r.set.Recover(images, tallies, r.clock.Now())
	return nil
}

// recoverImages adds, after the puller DaemonSet's images, what is kept
// outside its template: in demand mode the placed DaemonSet's template
// slots (the most placed images), then every other image the tallies
// record, most users first. The tallies are every image prepuller last
// wrote (pulled or placed); they sit on the DaemonSet, not in its template,
// so an image another client cut from the template while the state was
// lost too is still recovered.
func recoverImages(images []string, placed *appsv1.DaemonSet, tallies map[string]imageset.Tally, pause string) []string {
	seen := map[string]bool{}
	for _, img := range images {
		seen[img] = true
	}
	add := func(img string) {
		if img != "" && !seen[img] {
			seen[img] = true
			images = append(images, img)
		}
	}
	if placed != nil {
		for _, img := range render.SlotImages(&placed.Spec.Template.Spec, pause) {
			add(img)
		}
	}
	rest := make([]string, 0, len(tallies))
	for img := range tallies {
		rest = append(rest, img)
	}
	sort.Slice(rest, func(a, b int) bool {
		ta, tb := tallies[rest[a]], tallies[rest[b]]
		if ta.Users != tb.Users {
			return ta.Users > tb.Users
		}
		return rest[a] < rest[b]
	})
	for _, img := range rest {
		add(img)
	}
	return images
}

// persist saves the state, and when it cannot, says so (log, a Warning
// Event once per episode, prepuller_puller_state_errors_total) and lets
// the sync go on: the set is still in memory, and the DaemonSet must keep
// following it.
func (r *reconciler) persist(ctx context.Context, now time.Time, ev imageset.Evaluation, live *appsv1.DaemonSet) {
	err := r.saveState(ctx, now, ev)
	if err == nil {
		r.stateWarned = false
		return
	}
	r.m.stateErrors.Inc()
	logf.FromContext(ctx).Error(err, "Saving puller state failed; the DaemonSet is kept up to date anyway", "configMap", r.opts.StateConfigMapName)
	if !r.stateWarned && live != nil {
		r.stateWarned = true
		r.events.Eventf(live, nil, corev1.EventTypeWarning, ReasonStateNotSaved, "SaveState",
			"Saving the learned images to ConfigMap %s failed (%v); a restart would rebuild them from this DaemonSet and the running pods", r.opts.StateConfigMapName, err)
	}
}

// saveState writes the set when something that matters changed, or when
// only last-seen times changed and stateFlushInterval passed.
func (r *reconciler) saveState(ctx context.Context, now time.Time, ev imageset.Evaluation) error {
	print := r.set.Fingerprint()
	if print == r.savedPrint && now.Sub(r.lastState) < stateFlushInterval {
		return nil
	}
	active := map[string]bool{}
	for _, e := range ev.Active {
		active[e.Image] = true
	}
	data, shed, err := r.set.Encode(maxStateBytes, active)
	if err != nil {
		return fmt.Errorf("encoding puller state: %w", err)
	}
	if len(shed.Dropped) > 0 || shed.Shrunk > 0 {
		logf.FromContext(ctx).Info("Puller state too large for a ConfigMap; left out the least recently seen images not pulled and cut the longest user lists",
			"dropped", len(shed.Dropped), "shrunk", shed.Shrunk, "limitBytes", maxStateBytes)
	}
	if string(data) == r.savedData {
		r.savedPrint, r.lastState = print, now
		return nil
	}
	key := types.NamespacedName{Namespace: r.ns, Name: r.opts.StateConfigMapName}
	var cm corev1.ConfigMap
	err = r.reader.Get(ctx, key, &cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: objectLabels(r.opts)},
			Data:       map[string]string{StateKey: string(data)},
		}
		if err := r.client.Create(ctx, &cm); err != nil {
			return fmt.Errorf("creating puller state: %w", err)
		}
	case err != nil:
		return fmt.Errorf("reading puller state: %w", err)
	default:
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		for k, v := range objectLabels(r.opts) {
			cm.Labels[k] = v
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[StateKey] = string(data)
		if err := r.client.Update(ctx, &cm); err != nil {
			return fmt.Errorf("writing puller state: %w", err)
		}
	}
	r.m.stateWrites.Inc()
	r.savedData, r.savedPrint, r.lastState = string(data), print, now
	return nil
}
