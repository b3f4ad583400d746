package placement

import (
	"math"
	"sort"

	"prepuller.dev/prepuller/pkg/keyhash"
)

// Demand is one learned image's demand, as package puller measures it.
type Demand struct {
	Image string
	// Running is the number of user pods using the image now.
	Running int
	// Launches is the number of pods that started using it recently (a
	// burst raises an image's target before its pods all run).
	Launches int
	// Size in bytes, 0 when unknown (counted as 0 against ByteBudget).
	Size int64
}

// weight is the demand one image puts on the nodes: the larger of its
// running and recently launched pods, so a burst counts before its pods
// run and a long session counts after its launch is forgotten.
func (d Demand) weight() int { return max(d.Running, d.Launches) }

// Node is one node that runs a placed puller pod.
type Node struct {
	Name string
	// Slots are the images the node's slot containers hold now, "" for an
	// empty slot. Its length may differ from Input.Slots (a pod made
	// before slotsPerNode changed); the plan keeps slots in place.
	Slots []string
	// Holds are images the node already has without a slot (the kubelet
	// reports them): a slot for one of them costs no pull.
	Holds map[string]bool
	// UserPods is the number of user pods on the node now.
	UserPods int
}

// Input is everything a plan is computed from.
type Input struct {
	// Images are the images to place, most valuable first (the puller's
	// ranking). An image not listed loses its slots.
	Images []Demand
	Nodes  []Node
	// Slots per node.
	Slots int
	// Headroom multiplies an image's share of the demand (Options.Headroom).
	Headroom float64
	// ByteBudget, above zero, caps the summed known size of a node's slot
	// images.
	ByteBudget int64
}

// Plan is where each image should be.
type Plan struct {
	// Slots are each node's slot images, index by index ("" empty), with
	// Input.Slots entries.
	Slots map[string][]string
	// Targets is how many nodes each image should be on.
	Targets map[string]int
	// Placed is how many nodes hold each image in a slot under the plan;
	// below the target when slots or the byte budget ran out.
	Placed map[string]int
}

// Target is how many of nodes should hold an image with demand weight w
// when all images together have total: its share of the demand, times
// headroom, of the nodes, rounded up; at least one while anyone runs or
// launches it, none (steer only) otherwise. Every node holds an image that
// alone is the whole demand.
func Target(w, total, nodes int, headroom float64) int {
	if w <= 0 || total <= 0 || nodes <= 0 {
		return 0
	}
	t := int(math.Ceil(headroom * float64(nodes) * float64(w) / float64(total)))
	return min(max(t, 1), nodes)
}

// Compute plans the slots. It is deterministic and changes as little as
// it can: an image keeps the slots it has up to its target; images without
// demand keep theirs until another image needs the slot (so a user who
// comes back finds it); an image that needs more holders gets them, most
// valuable image first, on the nodes where the scheduler would send its
// next user when no holder has room: nodes that already have it (no
// pull), then the nodes with the fewest user pods, ties broken by a hash
// of image and node so images spread over different nodes.
func Compute(in Input) Plan {
	p := Plan{Slots: map[string][]string{}, Targets: map[string]int{}, Placed: map[string]int{}}
	total := 0
	rank := map[string]int{}
	size := map[string]int64{}
	for i, d := range in.Images {
		if _, dup := rank[d.Image]; dup || d.Image == "" {
			continue
		}
		rank[d.Image] = i
		size[d.Image] = d.Size
		total += d.weight()
	}
	weight := make(map[string]int, len(rank))
	for img, i := range rank {
		weight[img] = in.Images[i].weight()
		p.Targets[img] = Target(weight[img], total, len(in.Nodes), in.Headroom)
	}

	// Start from what the nodes hold: drop images no longer listed,
	// duplicates, and slots past the count.
	nodes := make([]*nodeState, len(in.Nodes))
	for i, n := range in.Nodes {
		ns := &nodeState{Node: n, slots: make([]string, in.Slots), has: map[string]int{}}
		for j, img := range n.Slots {
			if j >= in.Slots || img == "" {
				continue
			}
			if _, ok := rank[img]; !ok {
				continue
			}
			if _, dup := ns.has[img]; dup {
				continue
			}
			ns.slots[j], ns.has[img] = img, j
			ns.bytes += size[img]
		}
		nodes[i] = ns
	}
	for _, ns := range nodes {
		for img := range ns.has {
			p.Placed[img]++
		}
	}

	// Images over their target give up slots, but lazily: a slot is only
	// marked spare, taken when another image needs one.
	spare := map[string]int{}
	for img, n := range p.Placed {
		if extra := n - p.Targets[img]; extra > 0 {
			spare[img] = extra
		}
	}

	var cands []cand
	for _, d := range in.Images {
		img := d.Image
		need := p.Targets[img] - p.Placed[img]
		if need <= 0 {
			continue
		}
		cands = cands[:0]
		for _, ns := range nodes {
			if _, ok := ns.has[img]; !ok {
				cands = append(cands, cand{ns: ns, holds: ns.Holds[img], key: spread(img, ns.Name)})
			}
		}
		sort.Slice(cands, func(a, b int) bool {
			x, y := &cands[a], &cands[b]
			if x.holds != y.holds {
				return x.holds
			}
			if x.ns.UserPods != y.ns.UserPods {
				return x.ns.UserPods < y.ns.UserPods
			}
			return x.key < y.key
		})
		for _, c := range cands {
			ns := c.ns
			if need == 0 {
				break
			}
			j := ns.freeSlot(img, weight, rank, spare, size, in.ByteBudget)
			if j < 0 {
				continue
			}
			if old := ns.slots[j]; old != "" {
				delete(ns.has, old)
				ns.bytes -= size[old]
				p.Placed[old]--
				spare[old]--
			}
			ns.slots[j], ns.has[img] = img, j
			ns.bytes += size[img]
			p.Placed[img]++
			need--
		}
	}
	for _, ns := range nodes {
		p.Slots[ns.Name] = ns.slots
	}
	for img, n := range p.Placed {
		if n == 0 {
			delete(p.Placed, img)
		}
	}
	return p
}

// cand is a node that could take an image, with its sort keys.
type cand struct {
	ns    *nodeState
	holds bool
	key   uint64
}

type nodeState struct {
	Node
	slots []string
	has   map[string]int // image -> slot index
	bytes int64
}

// freeSlot finds a slot for img: an empty one, else the slot of a spare
// image (one on more nodes than its target), the least demanded and then
// the least valuable; -1 when there is none or the byte budget does not
// allow img.
func (ns *nodeState) freeSlot(img string, weight, rank map[string]int, spare map[string]int, size map[string]int64, budget int64) int {
	best := -1
	less := func(a, b string) bool { // a is a better victim than b
		if weight[a] != weight[b] {
			return weight[a] < weight[b]
		}
		return rank[a] > rank[b]
	}
	for j, cur := range ns.slots {
		if cur == "" {
			best = j
			break
		}
		if spare[cur] <= 0 {
			continue
		}
		if best < 0 || less(cur, ns.slots[best]) {
			best = j
		}
	}
	if best < 0 {
		return -1
	}
	if budget > 0 {
		after := ns.bytes + size[img]
		if old := ns.slots[best]; old != "" {
			after -= size[old]
		}
		if after > budget {
			return -1
		}
	}
	return best
}

// spread orders nodes for one image: a different order per image, stable
// across syncs, and scattered: nodes with neighbouring names must not sort
// side by side, or an image's holders would be a run of neighbours that
// kube-scheduler's sample of a large cluster (a contiguous part of its
// node list) misses all together (pkg/keyhash).
func spread(image, node string) uint64 {
	h := keyhash.String(keyhash.Offset, image)
	h = keyhash.Byte(h, 0)
	return keyhash.Finish(keyhash.String(h, node))
}
