package inventory

import (
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/puller/render"
)

// HostnameLabel names nodes in steering terms. matchFields on metadata.name
// accepts a single value per requirement, so a term naming many nodes has to
// use a label; the kubelet sets this one on every node.
const HostnameLabel = corev1.LabelHostname

// UpsertNode records a node's eligibility and the images its kubelet
// reports. Unchanged image lists are recognized by a hash and not
// normalized again: most node updates are heartbeats. Hashing and
// normalizing happen before the write lock is taken, so admissions reading
// the inventory never wait on them.
func (inv *Inventory) UpsertNode(n *corev1.Node) {
	eligible, hostname := inv.eligibility(n)
	sig := imagesSig(n.Status.Images)

	inv.mu.RLock()
	nd := inv.nodes[n.Name]
	changed := nd == nil || nd.fromStatus == nil || nd.statusSig != sig
	inv.mu.RUnlock()
	var st []statusImage
	if changed {
		st = inv.statusImages(n.Status.Images)
	}

	inv.mu.Lock()
	defer inv.mu.Unlock()
	nd = inv.nodeLocked(n.Name)
	if !nd.seen {
		nd.seen = true
		inv.seenCount++
	}
	fromStatus := nd.fromStatus
	if sig != nd.statusSig || nd.fromStatus == nil {
		if !changed {
			// Changed since the check above; one informer delivers a
			// node's events in order, so this does not happen in practice.
			st = inv.statusImages(n.Status.Images)
		}
		fromStatus = inv.internStatusLocked(st)
		nd.statusSig = sig
	}
	inv.applyLocked(nd, fromStatus, nd.fromPods, eligible, hostname)
	recordSizes(inv)
}

// DeleteNode forgets a node. Images only puller pods reported on it are
// forgotten when those pods go.
func (inv *Inventory) DeleteNode(name string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	nd := inv.nodes[name]
	if nd == nil {
		return
	}
	if nd.seen {
		nd.seen = false
		inv.seenCount--
	}
	nd.statusSig = 0
	inv.applyLocked(nd, []string{}, nd.fromPods, false, "")
	inv.releaseIfEmptyLocked(nd)
	recordSizes(inv)
}

// UpsertPullerPod records the images whose pull completed in a puller pod:
// an init container that terminated with exit code 0 ran, so its image is on
// the pod's node. The spec's image is used, normalized, because the status
// may name the image by another alias or by its ID.
func (inv *Inventory) UpsertPullerPod(p *corev1.Pod) {
	key := p.Namespace + "/" + p.Name
	if p.Spec.NodeName == "" {
		inv.DeletePullerPod(key)
		return
	}
	pulled := pulledImages(p, inv.norm)

	inv.mu.Lock()
	defer inv.mu.Unlock()
	if old, ok := inv.pods[key]; ok && old != p.Spec.NodeName {
		inv.dropPodLocked(key, old)
	}
	nd := inv.nodeLocked(p.Spec.NodeName)
	for i, s := range pulled {
		pulled[i] = inv.internLocked(s)
	}
	if slices.Equal(nd.fromPods[key], pulled) {
		inv.pods[key] = nd.name
		return
	}
	fromPods := make(map[string][]string, len(nd.fromPods)+1)
	for k, v := range nd.fromPods {
		fromPods[k] = v
	}
	fromPods[key] = pulled
	inv.pods[key] = nd.name
	inv.applyLocked(nd, nd.fromStatus, fromPods, nd.eligible, nd.hostname)
	recordSizes(inv)
}

// DeletePullerPod forgets what a puller pod ("namespace/name") reported: once
// the pod is gone its images may be garbage collected.
func (inv *Inventory) DeletePullerPod(key string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if nodeName, ok := inv.pods[key]; ok {
		inv.dropPodLocked(key, nodeName)
		recordSizes(inv)
	}
}

func (inv *Inventory) dropPodLocked(key, nodeName string) {
	delete(inv.pods, key)
	nd := inv.nodes[nodeName]
	if nd == nil {
		return
	}
	fromPods := make(map[string][]string, len(nd.fromPods))
	for k, v := range nd.fromPods {
		if k != key {
			fromPods[k] = v
		}
	}
	inv.applyLocked(nd, nd.fromStatus, fromPods, nd.eligible, nd.hostname)
	inv.releaseIfEmptyLocked(nd)
}

// eligibility: a node can be steered to when it matches the selector, is
// schedulable, Ready, and has a hostname label to be named by.
func (inv *Inventory) eligibility(n *corev1.Node) (bool, string) {
	hostname := n.Labels[HostnameLabel]
	if hostname == "" || n.Spec.Unschedulable {
		return false, hostname
	}
	if sel := inv.opts.EligibleNodeSelector; sel != nil && !sel.Matches(labels.Set(n.Labels)) {
		return false, hostname
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, hostname
		}
	}
	return false, hostname
}

func (inv *Inventory) nodeLocked(name string) *node {
	if nd := inv.nodes[name]; nd != nil {
		return nd
	}
	nd := &node{name: name, slot: inv.allocSlotLocked()}
	inv.slots[nd.slot] = nd
	inv.nodes[name] = nd
	return nd
}

func (inv *Inventory) allocSlotLocked() int {
	if n := len(inv.free); n > 0 {
		s := inv.free[n-1]
		inv.free = inv.free[:n-1]
		return s
	}
	inv.slots = append(inv.slots, nil)
	return len(inv.slots) - 1
}

// releaseIfEmptyLocked forgets a node that neither a Node object nor a
// puller pod speaks for any more.
func (inv *Inventory) releaseIfEmptyLocked(nd *node) {
	if nd.seen || len(nd.fromPods) > 0 {
		return
	}
	delete(inv.nodes, nd.name)
	inv.slots[nd.slot] = nil
	inv.free = append(inv.free, nd.slot)
}

// internLocked returns the inventory's copy of an image name, so that the
// same image on thousands of nodes is one string.
func (inv *Inventory) internLocked(s string) string {
	if img := inv.images[s]; img != nil {
		return img.name
	}
	return s
}

// statusImage is one normalized name a kubelet reports, with the largest
// size reported for it.
type statusImage struct {
	name string
	size int64
}

// statusImages normalizes the names a kubelet reports, sorted, each once.
// Each image has up to five names (tags and repo@digest); every valid one
// counts, since a pod may ask for any of them. It takes no lock.
func (inv *Inventory) statusImages(imgs []corev1.ContainerImage) []statusImage {
	out := make([]statusImage, 0, len(imgs)*2)
	for _, ci := range imgs {
		for _, raw := range ci.Names {
			name, err := inv.norm.Normalize(raw)
			if err != nil {
				continue // not a reference a pod could name
			}
			out = append(out, statusImage{name: name, size: ci.SizeBytes})
		}
	}
	slices.SortFunc(out, func(a, b statusImage) int { return strings.Compare(a.name, b.name) })
	// Each name once, with the largest size reported for it.
	k := 0
	for i := range out {
		if k > 0 && out[k-1].name == out[i].name {
			out[k-1].size = max(out[k-1].size, out[i].size)
			continue
		}
		out[k] = out[i]
		k++
	}
	return out[:k]
}

// internStatusLocked records the reported sizes and returns the names as
// the inventory's own strings.
func (inv *Inventory) internStatusLocked(st []statusImage) []string {
	out := make([]string, len(st))
	for i, si := range st {
		name := inv.internLocked(si.name)
		out[i] = name
		if si.size > 0 {
			img := inv.images[name]
			if img == nil {
				img = &image{name: name}
				inv.images[name] = img
			}
			if !img.sizeKnown || si.size > img.size {
				img.size, img.sizeKnown = si.size, true
			}
		}
	}
	return out
}

// normCacheSize bounds the memo of normalized status names. Nodes report
// the same few hundred names; a full cache is emptied and refilled.
const normCacheSize = 16384

// applyLocked moves a node to its new state, updating every image whose
// holder set changes.
func (inv *Inventory) applyLocked(nd *node, fromStatus []string, fromPods map[string][]string, eligible bool, hostname string) {
	held := union(fromStatus, fromPods)
	wasEligible := nd.eligible
	nd.fromStatus, nd.fromPods, nd.hostname, nd.eligible = fromStatus, fromPods, hostname, eligible

	switch {
	case eligible && !wasEligible:
		inv.eligible, _ = inv.eligible.set(nd.slot)
		inv.eligibleCount++
	case !eligible && wasEligible:
		inv.eligible.clear(nd.slot)
		inv.eligibleCount--
	}

	old := nd.held
	i, j := 0, 0
	for i < len(old) || j < len(held) {
		switch {
		case j == len(held) || (i < len(old) && old[i] < held[j]):
			inv.unholdLocked(nd, old[i])
			i++
		case i == len(old) || held[j] < old[i]:
			inv.holdLocked(nd, held[j], eligible)
			j++
		default:
			if eligible != wasEligible {
				img := inv.images[held[j]]
				inv.markLocked(img, nd.slot, eligible)
			}
			i++
			j++
		}
	}
	nd.held = held
	if len(held) == 0 {
		nd.held = nil
	}
}

func (inv *Inventory) holdLocked(nd *node, name string, eligible bool) {
	img := inv.images[name]
	if img == nil {
		img = &image{name: name}
		inv.images[name] = img
	}
	img.refs++
	inv.markLocked(img, nd.slot, eligible)
}

func (inv *Inventory) unholdLocked(nd *node, name string) {
	img := inv.images[name]
	if img == nil {
		return
	}
	inv.markLocked(img, nd.slot, false)
	img.refs--
	if img.refs <= 0 {
		delete(inv.images, name)
	}
}

func (inv *Inventory) markLocked(img *image, slot int, on bool) {
	if on {
		var added bool
		if img.holders, added = img.holders.set(slot); added {
			img.count++
		}
		return
	}
	if img.holders.clear(slot) {
		img.count--
	}
}

// union merges sorted lists. With no puller pods on the node it returns
// fromStatus itself, so most nodes store one list.
func union(fromStatus []string, fromPods map[string][]string) []string {
	if len(fromPods) == 0 {
		return fromStatus
	}
	out := slices.Clone(fromStatus)
	for _, imgs := range fromPods {
		out = append(out, imgs...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pulledImages lists the normalized spec images of the init containers that
// terminated with exit code 0 and of the slot containers running their
// spec's image (render.Pull.Pulled), sorted. Every such container counts, the
// install container and ones the puller did not render included: whatever
// ran is on the node.
func pulledImages(p *corev1.Pod, norm *imageref.Cache) []string {
	var out []string
	for pull := range render.AllPulls(p, "", norm) {
		if pull.Pulled(norm) {
			out = append(out, pull.Image)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func imagesSig(imgs []corev1.ContainerImage) uint64 {
	h := fnv.New64a()
	var buf [20]byte
	for _, ci := range imgs {
		for _, n := range ci.Names {
			h.Write([]byte(n))
			h.Write([]byte{0})
		}
		h.Write(strconv.AppendInt(buf[:0], ci.SizeBytes, 10))
		h.Write([]byte{1})
	}
	return h.Sum64() | 1 // never 0, which means "not yet computed"
}
