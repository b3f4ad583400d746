package inventory

// busySlack is how many more of an image's users than its even share a
// holder may run and still be steered to: a holder of image X is busy, and
// left out of X's terms, once it runs ceil((n+1)/E) + busySlack of X's n
// user pods (E the eligible nodes). Steering's lead in the scheduler's
// score is worth several users of resource score (docs/placement.md), so
// without a bound a burst of one image (a course starting together) piles
// onto the first few nodes that hold it while the puller is still pulling
// it elsewhere. 2, not 1: on a steady hub the puller sizes an image's
// holders for about half a node's users each (headroom 2), so with 1 the
// holders of a busy hub's images would all be "busy" and their users cold.
const busySlack = 2

// userPod is what the inventory remembers of one user pod: the node it is
// bound to and the normalized image it is steered by (both interned).
type userPod struct {
	node, image string
}

// imageUsers counts the bound, unfinished user pods steered by one image.
type imageUsers struct {
	total  int
	byNode map[string]int // node name -> pods
	// hist[c] is the number of nodes running exactly c of them (c >= 1),
	// trimmed so that len(hist)-1 is the most any node runs: Presence
	// skips the per-node walk whenever no node reaches the busy limit.
	hist []int
}

func (u *imageUsers) move(node string, delta int) {
	c := u.byNode[node]
	if c > 0 {
		u.hist[c]--
	}
	c += delta
	u.total += delta
	if c <= 0 {
		delete(u.byNode, node)
	} else {
		u.byNode[node] = c
		for len(u.hist) <= c {
			u.hist = append(u.hist, 0)
		}
		u.hist[c]++
	}
	for n := len(u.hist); n > 1 && u.hist[n-1] == 0; n-- {
		u.hist = u.hist[:n-1]
	}
}

// UpsertUserPod records that the user pod key ("ns/name") runs on node and
// is steered by image (normalized). An empty node or image forgets the pod:
// not bound yet, finished, or out of scope.
func (inv *Inventory) UpsertUserPod(key, node, image string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	old, had := inv.users[key]
	if had && old.node == node && old.image == image {
		return
	}
	if had {
		inv.unuseLocked(key, old)
	}
	if node == "" || image == "" {
		return
	}
	u := inv.usage[image]
	if u == nil {
		u = &imageUsers{byNode: map[string]int{}}
		inv.usage[image] = u
	}
	if nd := inv.nodes[node]; nd != nil {
		node = nd.name // share the node's copy of the name
	}
	u.move(node, 1)
	inv.users[key] = userPod{node: node, image: image}
}

// DeleteUserPod forgets a user pod.
func (inv *Inventory) DeleteUserPod(key string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if old, ok := inv.users[key]; ok {
		inv.unuseLocked(key, old)
	}
}

func (inv *Inventory) unuseLocked(key string, p userPod) {
	delete(inv.users, key)
	u := inv.usage[p.image]
	if u == nil {
		return
	}
	u.move(p.node, -1)
	if u.total == 0 {
		delete(inv.usage, p.image)
	}
}

// UserPods reports how many bound user pods are steered by image and the
// most any one node runs.
func (inv *Inventory) UserPods(image string) (total, most int) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	if u := inv.usage[image]; u != nil {
		return u.total, len(u.hist) - 1
	}
	return 0, 0
}

// busyLocked returns the holders of img that run at least busyLimit of
// its user pods, and how many they are; nil when none does.
func (inv *Inventory) busyLocked(name string, img *image) (bitset, int) {
	u := inv.usage[name]
	if u == nil || inv.eligibleCount == 0 {
		return nil, 0
	}
	limit := busyLimit(u.total, inv.eligibleCount)
	if len(u.hist)-1 < limit {
		return nil, 0
	}
	var busy bitset
	n := 0
	for node, c := range u.byNode {
		if c < limit {
			continue
		}
		if nd := inv.nodes[node]; nd != nil && img.holders.has(nd.slot) {
			busy, _ = busy.set(nd.slot)
			n++
		}
	}
	return busy, n
}

// busyLimit is how many of an image's n user pods make a node busy for its
// next one, on eligible nodes: the even share with that pod, plus the slack.
func busyLimit(n, eligible int) int {
	return (n+eligible)/eligible + busySlack // ceil((n+1)/eligible) + slack
}
