// Package inventory keeps, in memory, which node holds which image, from two
// sources: node.status.images (what the kubelet reports, capped at 50 images
// per node) and the puller DaemonSet's pods (an init container that exited 0
// on node N means N holds its image, which sees past the kubelet's cap).
//
// The admission webhook asks it on the request path, so reads take a read
// lock and touch only counters and bitsets; writes come from informer event
// handlers.
package inventory

import (
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"

	"prepuller.dev/prepuller/pkg/imageref"
)

// Inventory is safe for concurrent use. The zero value is not usable; call
// New.
type Inventory struct {
	opts Options

	mu     sync.RWMutex
	nodes  map[string]*node       // by node name
	images map[string]*image      // by normalized reference
	pods   map[string]string      // puller pod "ns/name" -> node name
	users  map[string]userPod     // user pod "ns/name" -> node and image
	usage  map[string]*imageUsers // by normalized steering image

	clock       clock.PassiveClock // reads the burst window's end
	burstWindow time.Duration
	slots       []*node         // slot -> node; nil when free
	free        []int           // free slots, reused so bitsets stay short
	norm        *imageref.Cache // raw status names; used outside mu

	eligible      bitset
	eligibleCount int
	seenCount     int // nodes known from Node objects
}

// node is what the inventory remembers about one node: no informer object is
// kept, only interned strings.
type node struct {
	slot     int
	name     string
	hostname string // kubernetes.io/hostname label; steering terms name it
	eligible bool
	seen     bool // a Node object was seen (not only a puller pod on it)

	statusSig  uint64   // hash of status.images, to skip unchanged updates
	fromStatus []string // sorted, interned
	fromPods   map[string][]string
	held       []string // sorted union of fromStatus and fromPods, interned
}

// image is one normalized reference held by at least one node.
type image struct {
	name      string
	refs      int    // nodes holding it, eligible or not
	holders   bitset // eligible nodes holding it, by slot
	count     int    // bits set in holders
	size      int64
	sizeKnown bool
}

// New returns an empty inventory that treats every node as eligible; the
// options given to SetupWithManager replace that.
func New() *Inventory {
	return &Inventory{
		opts:   Options{EligibleNodeSelector: labels.Everything()},
		nodes:  map[string]*node{},
		images: map[string]*image{},
		pods:   map[string]string{},
		users:  map[string]userPod{},
		usage:  map[string]*imageUsers{},

		clock:       clock.RealClock{},
		burstWindow: DefaultBurstWindow,
		norm:        imageref.NewCache(normCacheSize),
	}
}

// Presence says how many eligible nodes hold an image and, when the set is
// small enough to name, which.
type Presence struct {
	// Eligible is the number of eligible nodes.
	Eligible int
	// Holding is the number of eligible nodes holding the image.
	Holding int
	// Busy is how many of the holders took busyLimit or more of the
	// image's recent arrivals (busyLocked): they are not preferred.
	Busy int
	// Hostnames are the kubernetes.io/hostname values of the holders that
	// are not busy (when Complement is false) or of the eligible nodes
	// that lack the image or are busy (when Complement is true), sorted.
	// When neither list fits the bound, a window of max holders that are
	// not busy (Window is true). Nil when there is nothing to prefer. The
	// caller owns the slice.
	Hostnames  []string
	Complement bool
	Window     bool
	// Crowded: every holder is busy, and the term keeps the pod off them:
	// steering must not leave a burst to the scheduler's own image
	// locality score, which favours those same nodes. Hostnames are then
	// the busy holders when they fit the bound (Complement is true: to be
	// avoided), else the eligible nodes lacking the image (a window of
	// max of them when more; to be preferred).
	Crowded bool
}

// Presence reports where image is, naming at most max nodes: the holders
// when there are at most max of them, otherwise the eligible nodes lacking
// the image when those are at most max, otherwise a window of max holders
// chosen by key (see window). Holders busy with a burst of the image count
// as lacking it; when every holder is busy the names keep the pod off
// them (Crowded). It allocates the returned names; when the image's recent
// arrivals reach the busy limit, also a count per node and two bitsets.
func (inv *Inventory) Presence(image string, max int, key uint64) Presence {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	p := Presence{Eligible: inv.eligibleCount}
	img := inv.images[image]
	if img != nil {
		p.Holding = img.count
	}
	if p.Holding == 0 || p.Holding == p.Eligible {
		return p // nothing to prefer: no node, or every node, has it
	}
	holders := img.holders
	busy, n := inv.busyLocked(image, img)
	if n > 0 {
		p.Busy = n
		holders = andNot(holders, busy)
	}
	free := p.Holding - p.Busy
	switch {
	case free == 0 && max > 0:
		// Every holder is busy: keep the pod off them. Naming only some
		// of them would make the others the most preferred nodes, so
		// past the bound name the nodes lacking the image instead.
		p.Crowded = true
		switch lacking := p.Eligible - p.Holding; {
		case p.Busy <= max:
			p.Hostnames = inv.hostnames(busy, nil, p.Busy)
			p.Complement = true
		case lacking <= max:
			p.Hostnames = inv.hostnames(inv.eligible, img.holders, lacking)
		default:
			p.Hostnames = inv.window(andNot(inv.eligible, img.holders), lacking, max, key)
			p.Window = true
		}
	case free == 0:
		// max below 1 (the configuration refuses it): nothing to name.
	case free <= max:
		p.Hostnames = inv.hostnames(holders, nil, free)
	case p.Eligible-free <= max:
		p.Hostnames = inv.hostnames(inv.eligible, holders, p.Eligible-free)
		p.Complement = true
	case max > 0:
		p.Hostnames = inv.window(holders, free, max, key)
		p.Window = true
	}
	return p
}

func (inv *Inventory) hostnames(a, b bitset, n int) []string {
	out := make([]string, 0, n)
	forEachAndNot(a, b, func(slot int) bool {
		out = append(out, inv.slots[slot].hostname)
		return true
	})
	slices.Sort(out)
	return out
}

// HolderCount is the number of eligible nodes holding image.
func (inv *Inventory) HolderCount(image string) int {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	if img := inv.images[image]; img != nil {
		return img.count
	}
	return 0
}

// Holders returns the names of the eligible nodes holding image, sorted.
func (inv *Inventory) Holders(image string) []string {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	img := inv.images[image]
	if img == nil {
		return nil
	}
	out := make([]string, 0, img.count)
	forEachAndNot(img.holders, nil, func(slot int) bool {
		out = append(out, inv.slots[slot].name)
		return true
	})
	slices.Sort(out)
	return out
}

// SizeOf returns the image's size in bytes as a kubelet reported it in
// node.status.images; false when no kubelet did (the image is past the
// 50-image cap everywhere, or only the puller's pods saw it).
func (inv *Inventory) SizeOf(image string) (int64, bool) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	if img := inv.images[image]; img != nil && img.sizeKnown {
		return img.size, true
	}
	return 0, false
}

// EligibleNodes is the number of eligible nodes.
func (inv *Inventory) EligibleNodes() int {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return inv.eligibleCount
}

// Nodes is the number of nodes known from Node objects.
func (inv *Inventory) Nodes() int {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return inv.seenCount
}

// Images returns every image some node holds, sorted.
func (inv *Inventory) Images() []string {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	out := make([]string, 0, len(inv.images))
	for name := range inv.images {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// NewWithOptions returns an empty inventory that judges eligibility by
// opts, for readers that feed it themselves (the operator commands list
// nodes and puller pods once instead of watching them).
func NewWithOptions(opts Options) *Inventory {
	inv := New()
	if opts.EligibleNodeSelector != nil {
		inv.opts = opts
	}
	return inv
}
