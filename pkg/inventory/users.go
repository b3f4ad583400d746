package inventory

import (
	"slices"
	"time"
)

// busySlack is how many more of an image's recent arrivals than its even
// share a holder may have taken and still be steered to: a holder of image
// X is busy, and left out of X's terms, once it took ceil((r+1)/E) +
// busySlack of the r user pods of X that arrived within the burst window
// (E the eligible nodes).
//
// Why recent arrivals, not every running pod: demand placement puts an
// image on few nodes on purpose, so in steady state its holders each run
// many of its users (about half a node's users with headroom 2); that is
// the point of steering, and on a dense hub (8 users a node) a bound on
// running pods would turn most holders "busy" and send users of less
// popular images to cold nodes. A burst is different: a course of 60
// starting one image within two minutes would pile onto the first few
// nodes holding it while the puller is still pulling it elsewhere, because
// steering's lead in the scheduler's score is worth several users of
// resource score (docs/placement.md). Arrivals within the window tell the
// two apart: steady traffic brings a holder few of an image's users per
// window (DefaultBurstWindow says how few), a burst many. 2, not 1, so
// that a popular image's steady arrivals do not trip it.
const busySlack = 2

// DefaultBurstWindow is how long a user pod's arrival counts towards its
// node being busy with its image (UserPodOptions.BurstWindow). A course
// starting together (20-70 users within a minute or two) fits in it; a
// holder's steady arrivals are about K*T/(2S) for K users a node, sessions
// of S minutes and a window of T, so the shorter the window the denser
// and busier a hub can be before steady traffic reaches the limit of 3
// (K/S of 1.2 per minute at 5 minutes: 8 users a node with 10-minute
// sessions stays below it, where 10 minutes would not).
const DefaultBurstWindow = 5 * time.Minute

// userPod is what the inventory remembers of one user pod: the node it is
// bound to, the normalized image it is steered by (both interned) and when
// it was created.
type userPod struct {
	node, image string
	created     time.Time
}

// arrival is one bound user pod of an image.
type arrival struct {
	at   time.Time
	node string
	key  string
}

// imageUsers are the bound user pods of one image, oldest first. Pods
// leave when they go, finish or leave scope; arrivals older than the
// burst window are dropped at the next write.
type imageUsers struct {
	arrivals []arrival
}

// UpsertUserPod records that the user pod key ("ns/name"), created at
// created, runs on node and is steered by image (normalized). An empty
// node or image forgets the pod: not bound yet, finished, or out of scope.
func (inv *Inventory) UpsertUserPod(key, node, image string, created time.Time) {
	// Most pod updates (status changes) change none of this: check under
	// the read lock, so they do not hold admissions back.
	inv.mu.RLock()
	old, had := inv.users[key]
	inv.mu.RUnlock()
	same := had && old.node == node && old.image == image && old.created.Equal(created)
	if same || !had && (node == "" || image == "") {
		return
	}

	inv.mu.Lock()
	defer inv.mu.Unlock()
	if old, had := inv.users[key]; had {
		inv.unuseLocked(key, old)
	}
	if node == "" || image == "" {
		return
	}
	u := inv.usage[image]
	if u == nil {
		u = &imageUsers{}
		inv.usage[image] = u
	}
	if nd := inv.nodes[node]; nd != nil {
		node = nd.name // share the node's copy of the name
	}
	u.prune(inv.clock.Now().Add(-inv.burstWindow))
	i, _ := slices.BinarySearchFunc(u.arrivals, created, func(a arrival, t time.Time) int { return a.at.Compare(t) })
	u.arrivals = slices.Insert(u.arrivals, i, arrival{at: created, node: node, key: key})
	inv.users[key] = userPod{node: node, image: image, created: created}
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
	if i := slices.IndexFunc(u.arrivals, func(a arrival) bool { return a.key == key }); i >= 0 {
		u.arrivals = slices.Delete(u.arrivals, i, i+1)
	}
	u.prune(inv.clock.Now().Add(-inv.burstWindow))
	if len(u.arrivals) == 0 {
		delete(inv.usage, p.image)
	}
}

// prune drops the arrivals before cut; their pods stay known (inv.users)
// but no longer count.
func (u *imageUsers) prune(cut time.Time) {
	n := 0
	for n < len(u.arrivals) && u.arrivals[n].at.Before(cut) {
		n++
	}
	if n > 0 {
		u.arrivals = slices.Delete(u.arrivals, 0, n)
	}
}

// recentLocked returns the image's arrivals within the burst window.
func (inv *Inventory) recentLocked(image string) []arrival {
	u := inv.usage[image]
	if u == nil {
		return nil
	}
	cut := inv.clock.Now().Add(-inv.burstWindow)
	i, _ := slices.BinarySearchFunc(u.arrivals, cut, func(a arrival, t time.Time) int { return a.at.Compare(t) })
	return u.arrivals[i:]
}

// RecentUserPods reports how many bound user pods of image arrived within
// the burst window, and the most of them on one node.
func (inv *Inventory) RecentUserPods(image string) (total, most int) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	recent := inv.recentLocked(image)
	per := map[string]int{}
	for _, a := range recent {
		per[a.node]++
		most = max(most, per[a.node])
	}
	return len(recent), most
}

// busyLocked returns the holders of img that took at least busyLimit of
// its recent arrivals, and how many they are; nil when none did.
func (inv *Inventory) busyLocked(name string, img *image) (bitset, int) {
	if inv.eligibleCount == 0 {
		return nil, 0
	}
	recent := inv.recentLocked(name)
	limit := busyLimit(len(recent), inv.eligibleCount)
	if len(recent) < limit {
		return nil, 0 // no node can have reached it
	}
	per := make(map[string]int, len(recent))
	var busy bitset
	n := 0
	for _, a := range recent {
		per[a.node]++
		if per[a.node] != limit {
			continue
		}
		if nd := inv.nodes[a.node]; nd != nil && img.holders.has(nd.slot) {
			busy, _ = busy.set(nd.slot)
			n++
		}
	}
	return busy, n
}

// busyLimit is how many of an image's r recent arrivals make a node busy
// for its next one, on eligible nodes: the even share with that pod, plus
// the slack.
func busyLimit(r, eligible int) int {
	return (r+eligible)/eligible + busySlack // ceil((r+1)/eligible) + slack
}
