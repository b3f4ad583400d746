package puller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/puller/placement"
	"prepuller.dev/prepuller/puller/render"
)

// launchWindow is how far back a pod's start counts as a launch of its
// images: a burst (a class starting one image) raises the image's target
// before its pods all run.
const launchWindow = 10 * time.Minute

// demandMode reports whether learned images are placed by demand rather
// than pulled on every node.
func (r *reconciler) demandMode() bool {
	return r.opts.Placement.Mode == placement.ModeDemand
}

// everywhere are the active images the puller DaemonSet pulls on every
// node: all of them, or in demand mode only the configured ones.
func (r *reconciler) everywhere(active []*imageset.Entry) []*imageset.Entry {
	if !r.demandMode() {
		return active
	}
	var out []*imageset.Entry
	for _, e := range active {
		if e.Static {
			out = append(out, e)
		}
	}
	return out
}

// placed are the active images placement puts on nodes by demand.
func placedEntries(active []*imageset.Entry) []*imageset.Entry {
	var out []*imageset.Entry
	for _, e := range active {
		if !e.Static {
			out = append(out, e)
		}
	}
	return out
}

// place brings the placed puller DaemonSet and its pods' slots to the plan
// for the active learned images. Syncs come at most once per write
// interval (schedule), so it runs at most that often; it returns when it
// wants to run again (pod writes left over for the next sync), or zero.
func (r *reconciler) place(ctx context.Context, now time.Time, ev imageset.Evaluation) (time.Time, error) {
	entries := placedEntries(ev.Active)
	demands := make([]placement.Demand, len(entries))
	for i, e := range entries {
		demands[i] = placement.Demand{Image: e.Image, Running: e.Running, Launches: launches(e, now), Size: e.Size}
	}

	var pods corev1.PodList
	if err := r.pullerPods.List(ctx, &pods, client.InNamespace(r.ns), client.MatchingLabelsSelector{Selector: placedPodSelector(r.opts)}, client.UnsafeDisableDeepCopy); err != nil {
		return time.Time{}, fmt.Errorf("listing placed puller pods: %w", err)
	}
	users, err := r.userPodsPerNode(ctx)
	if err != nil {
		return time.Time{}, err
	}
	slots := r.opts.Placement.SlotsPerNode
	in := placement.Input{Images: demands, Slots: slots, Headroom: r.opts.Placement.Headroom, ByteBudget: r.opts.NodeByteBudget}
	byNode := map[string]*corev1.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Spec.NodeName == "" {
			continue
		}
		byNode[p.Spec.NodeName] = p
		n := placement.Node{Name: p.Spec.NodeName, Slots: render.SlotImages(&p.Spec, r.opts.PauseImage), UserPods: users[p.Spec.NodeName]}
		if r.inv != nil {
			held, eligible := r.inv.NodeImages(p.Spec.NodeName)
			if !eligible {
				continue // no user pod goes there: its slots empty out
			}
			n.Holds = make(map[string]bool, len(held))
			for _, img := range held {
				n.Holds[img] = true
			}
		}
		in.Nodes = append(in.Nodes, n)
	}
	plan := placement.Compute(in)
	r.m.placementNodes.Set(float64(len(in.Nodes)))

	live, err := r.getDaemonSetNamed(ctx, r.daemonSets, PlacedName(r.opts))
	if err != nil {
		return time.Time{}, err
	}
	desired, err := r.renderPlaced(entries, plan, live)
	if err != nil {
		return time.Time{}, err
	}
	if !render.UpToDate(desired, live) {
		if _, err := r.writePlaced(ctx, desired, live); err != nil {
			return time.Time{}, err
		}
	}

	names := make([]string, 0, len(byNode))
	for n := range byNode {
		names = append(names, n)
	}
	sort.Strings(names)
	budget := r.opts.Placement.MaxPodWritesPerSync
	pending := 0
	for _, node := range names {
		pod := byNode[node]
		want, ok := plan.Slots[node]
		if !ok {
			want = make([]string, slots) // not eligible: empty
		}
		op, data := r.slotChange(pod, want, desired)
		if op == "" {
			continue
		}
		if budget == 0 {
			pending++
			continue
		}
		budget--
		if err := r.writeSlots(ctx, pod, op, data); err != nil {
			return time.Time{}, err
		}
	}
	r.m.placementPending.Set(float64(pending))
	if pending > 0 {
		logf.FromContext(ctx).V(1).Info("Placed puller pods left for the next sync", "pending", pending)
		return now.Add(r.opts.WriteInterval.Duration), nil
	}
	return time.Time{}, nil
}

// launches counts the pods that started using e within launchWindow.
func launches(e *imageset.Entry, now time.Time) int {
	n := 0
	for _, t := range e.RecentPods {
		if now.Sub(t) <= launchWindow {
			n++
		}
	}
	return n
}

// userPodsPerNode counts the live user pods on each node, from the
// leader's cache.
func (r *reconciler) userPodsPerNode(ctx context.Context) (map[string]int, error) {
	var pods corev1.PodList
	if err := r.userPods.List(ctx, &pods, client.MatchingLabelsSelector{Selector: r.scope.Selector}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing user pods: %w", err)
	}
	out := map[string]int{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName != "" && r.learnable(p) {
			out[p.Spec.NodeName]++
		}
	}
	return out, nil
}

// renderPlaced builds the placed puller DaemonSet. Its template's slots
// hold the images with the most holders under the plan, most first: what
// a node that joins pulls, in that order, before the leader tunes it.
func (r *reconciler) renderPlaced(entries []*imageset.Entry, plan placement.Plan, live *appsv1.DaemonSet) (*appsv1.DaemonSet, error) {
	order := make([]*imageset.Entry, 0, len(entries))
	for _, e := range entries {
		if plan.Targets[e.Image] > 0 {
			order = append(order, e)
		}
	}
	// Stable: entries come ranked, so equal targets keep the rank order.
	sort.SliceStable(order, func(a, b int) bool { return plan.Targets[order[a].Image] > plan.Targets[order[b].Image] })
	order = order[:min(len(order), r.opts.Placement.SlotsPerNode)]
	names := make([]string, len(order))
	for i, e := range order {
		names[i] = e.Image
	}
	if live != nil {
		names = keepTemplateOrder(names, render.SlotImages(&live.Spec.Template.Spec, r.opts.PauseImage))
	}
	images := make([]render.Image, len(names))
	for i, img := range names {
		images[i] = render.Image{Image: img, PullPolicy: corev1.PullIfNotPresent}
	}
	in := r.renderInput(images)
	in.Name, in.Labels, in.SelectorLabels = PlacedName(r.opts), placedObjectLabels(r.opts), placedSelectorLabels(r.opts)
	ds, err := render.Placed(in, r.opts.Placement.SlotsPerNode)
	if err != nil {
		return nil, fmt.Errorf("rendering placed puller DaemonSet: %w", err)
	}
	return ds, nil
}

// keepTemplateOrder returns the live template's slot images when they are
// the images wanted, in another order: a re-rank of the same images waits
// for the next change of the set. The order only matters to a node that
// joins (it pulls the slots in order), and under demand the ranks move with
// every launch: writing each re-rank cost the placed DaemonSet a write
// every write interval in make sim, each one recreating no pod.
func keepTemplateOrder(want, live []string) []string {
	var held []string
	for _, img := range live {
		if img != "" {
			held = append(held, img)
		}
	}
	if len(held) != len(want) {
		return want
	}
	a, b := slices.Clone(want), slices.Clone(held)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return want
	}
	return held
}

// writePlaced creates or updates the placed DaemonSet. Under OnDelete an
// update changes what new pods start with and recreates no pod.
func (r *reconciler) writePlaced(ctx context.Context, desired, live *appsv1.DaemonSet) (*appsv1.DaemonSet, error) {
	if live != nil && render.SelectorChanged(desired, live) {
		if err := r.client.Delete(ctx, live, client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting placed puller DaemonSet with a foreign selector: %w", err)
		}
		r.m.placedWrites.WithLabelValues("daemonset_recreate").Inc()
		live = nil
	}
	if live == nil {
		if err := r.client.Create(ctx, desired); err != nil {
			return nil, fmt.Errorf("creating placed puller DaemonSet: %w", err)
		}
		r.m.placedWrites.WithLabelValues("daemonset_create").Inc()
		return desired, nil
	}
	upd := render.ForUpdate(desired, live)
	if err := r.client.Update(ctx, upd); err != nil {
		// A conflict is the DaemonSet controller's status write; the
		// next sync (one write interval later) reads it again.
		return nil, fmt.Errorf("updating placed puller DaemonSet: %w", err)
	}
	r.m.placedWrites.WithLabelValues("daemonset_update").Inc()
	return upd, nil
}

// slotChange says what a placed pod needs to hold want: "" nothing,
// "patch" new slot images (data is the strategic merge patch), "delete"
// when the pod cannot get there in place (its slot count, install
// container or pull secrets differ from the template's, fields a pod
// cannot change), so that the DaemonSet controller makes it anew.
func (r *reconciler) slotChange(pod *corev1.Pod, want []string, tmpl *appsv1.DaemonSet) (string, []byte) {
	if !samePodShape(&pod.Spec, &tmpl.Spec.Template.Spec) {
		return "delete", nil
	}
	type container struct {
		Name  string `json:"name"`
		Image string `json:"image"`
	}
	var changes []container
	// Same shape: container i of the pod is slot i.
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if i >= len(want) {
			break
		}
		img := want[i]
		if img == "" {
			img = r.opts.PauseImage
		}
		if c.Image != img {
			changes = append(changes, container{Name: c.Name, Image: img})
		}
	}
	if len(changes) == 0 {
		return "", nil
	}
	data, err := json.Marshal(map[string]any{"spec": map[string]any{"containers": changes}})
	if err != nil {
		return "", nil // strings only: cannot fail
	}
	return "patch", data
}

// samePodShape compares what a pod cannot change in place: its containers'
// names, its install container and its pull secrets.
func samePodShape(pod, tmpl *corev1.PodSpec) bool {
	if len(pod.Containers) != len(tmpl.Containers) || len(pod.InitContainers) != len(tmpl.InitContainers) {
		return false
	}
	for i := range pod.Containers {
		if pod.Containers[i].Name != tmpl.Containers[i].Name {
			return false
		}
	}
	for i := range pod.InitContainers {
		if pod.InitContainers[i].Name != tmpl.InitContainers[i].Name || pod.InitContainers[i].Image != tmpl.InitContainers[i].Image {
			return false
		}
	}
	return slices.Equal(pod.ImagePullSecrets, tmpl.ImagePullSecrets)
}

// writeSlots patches or deletes one placed pod. A pod that is gone is not
// an error: the DaemonSet controller makes a new one, which the next sync
// sees.
func (r *reconciler) writeSlots(ctx context.Context, pod *corev1.Pod, op string, data []byte) error {
	target := &corev1.Pod{}
	target.Namespace, target.Name, target.UID = pod.Namespace, pod.Name, pod.UID
	var err error
	switch op {
	case "delete":
		err = r.client.Delete(ctx, target, client.Preconditions{UID: &target.UID})
	default:
		err = r.client.Patch(ctx, target, client.RawPatch(types.StrategicMergePatchType, data))
	}
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing placed puller pod %s (%s): %w", pod.Name, op, err)
	}
	r.m.placedWrites.WithLabelValues("pod_" + op).Inc()
	return nil
}
