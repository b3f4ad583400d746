package kubelet

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// store is one node's container image store: what is on disk, what is
// being pulled, and which images containers of existing pods use. Pulls run
// one at a time in request order (kubelet's serializeImagePulls default), so
// a pull's end time is known when it is queued: simulated times come from
// that arithmetic, not from when goroutines happen to wake.
type store struct {
	mu sync.Mutex

	bandwidth float64       // bytes per simulated second
	overhead  time.Duration // fixed cost of every pull
	disk      int64
	pinned    map[string]bool

	images    map[string]*stored
	pulls     map[string]*pull
	refs      map[string]int // image -> containers of existing pods using it
	used      int64
	busyUntil time.Duration

	pulledBytes int64
	pullCount   int
	gcCount     int
	dirty       bool // status.images is out of date
}

type stored struct {
	size     int64
	lastUsed time.Duration
}

// pull is a queued or running pull. done closes when the image is on disk.
type pull struct {
	image string
	size  int64
	end   time.Duration
	done  chan struct{}
}

func newStore(bandwidth float64, overhead time.Duration, disk int64, pinned map[string]int64) *store {
	s := &store{
		bandwidth: bandwidth,
		overhead:  overhead,
		disk:      disk,
		pinned:    map[string]bool{},
		images:    map[string]*stored{},
		pulls:     map[string]*pull{},
		refs:      map[string]int{},
		dirty:     true,
	}
	for img, size := range pinned {
		s.pinned[img] = true
		s.images[img] = &stored{size: size}
		s.used += size
	}
	return s
}

// has reports whether the image is on disk.
func (s *store) has(image string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.images[image] != nil
}

// ref marks images as used by a container of an existing pod (kubelet's
// image GC never removes those); unref releases them.
func (s *store) ref(images []string, now time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, img := range images {
		s.refs[img]++
		if st := s.images[img]; st != nil {
			st.lastUsed = now
		}
	}
}

func (s *store) unref(images []string, now time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, img := range images {
		if s.refs[img]--; s.refs[img] <= 0 {
			delete(s.refs, img)
		}
		if st := s.images[img]; st != nil {
			st.lastUsed = now
		}
	}
}

// ensure returns nil when the image is on disk, else the pull that brings
// it: one already queued, or a new one queued behind the others. start
// is called for a new pull with the wall-clock wait until its end.
func (s *store) ensure(image string, size int64, now time.Duration) (p *pull, isNew bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.images[image]; st != nil {
		st.lastUsed = now
		return nil, false
	}
	if p := s.pulls[image]; p != nil {
		return p, false
	}
	begin := max(now, s.busyUntil)
	p = &pull{
		image: image,
		size:  size,
		end:   begin + s.overhead + time.Duration(float64(size)/s.bandwidth*float64(time.Second)),
		done:  make(chan struct{}),
	}
	s.busyUntil = p.end
	s.pulls[image] = p
	s.pulledBytes += size
	s.pullCount++
	return p, true
}

// finish puts a pulled image on disk, collects garbage when the disk is
// over the high threshold, and wakes the pull's waiters.
func (s *store) finish(p *pull) {
	s.mu.Lock()
	delete(s.pulls, p.image)
	s.images[p.image] = &stored{size: p.size, lastUsed: p.end}
	s.used += p.size
	s.gcLocked()
	s.dirty = true
	s.mu.Unlock()
	close(p.done)
}

// Kubelet's defaults: collect at 85% disk use, down to 80%, least recently
// used first, never an image a container of an existing pod uses.
const (
	gcHigh = 0.85
	gcLow  = 0.80
)

func (s *store) gcLocked() {
	if s.disk <= 0 || float64(s.used) <= gcHigh*float64(s.disk) {
		return
	}
	var unused []string
	for img := range s.images {
		if s.refs[img] == 0 && !s.pinned[img] {
			unused = append(unused, img)
		}
	}
	sort.Slice(unused, func(i, j int) bool {
		a, b := s.images[unused[i]], s.images[unused[j]]
		if a.lastUsed != b.lastUsed {
			return a.lastUsed < b.lastUsed
		}
		return unused[i] < unused[j]
	})
	for _, img := range unused {
		if float64(s.used) <= gcLow*float64(s.disk) {
			break
		}
		s.used -= s.images[img].size
		delete(s.images, img)
		s.gcCount++
	}
}

// statusImages is what kubelet reports in node.status.images: the largest
// images first, at most max of them.
func (s *store) statusImages(max int) []corev1.ContainerImage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]corev1.ContainerImage, 0, len(s.images))
	for img, st := range s.images {
		out = append(out, corev1.ContainerImage{Names: []string{img}, SizeBytes: st.size})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SizeBytes != out[j].SizeBytes {
			return out[i].SizeBytes > out[j].SizeBytes
		}
		return out[i].Names[0] < out[j].Names[0]
	})
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}

// takeDirty reports and clears whether status.images needs writing.
func (s *store) takeDirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirty
	s.dirty = false
	return d
}

func (s *store) markDirty() {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}
