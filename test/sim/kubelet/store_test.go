package kubelet

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

const gb = 1_000_000_000

func TestStorePullsOneAtATime(t *testing.T) {
	s := newStore(100e6, 0, 0, nil) // 100 MB/s
	a, isNew := s.ensure("a", 2*gb, 0)
	if !isNew || a.end != 20*time.Second {
		t.Fatalf("first pull ends at %s (new %v), want 20s", a.end, isNew)
	}
	b, _ := s.ensure("b", 1*gb, 5*time.Second)
	if b.end != 30*time.Second {
		t.Errorf("second pull ends at %s, want 30s: it waits for the first", b.end)
	}
	again, isNew := s.ensure("a", 2*gb, 6*time.Second)
	if again != a || isNew {
		t.Error("asking for an image being pulled queued a second pull")
	}
	s.finish(a)
	s.finish(b)
	if p, _ := s.ensure("a", 2*gb, 40*time.Second); p != nil {
		t.Error("an image on disk was pulled again")
	}
	c, _ := s.ensure("c", 1*gb, 100*time.Second)
	if c.end != 110*time.Second {
		t.Errorf("pull on an idle node ends at %s, want 110s", c.end)
	}
	if s.pulledBytes != 4*gb || s.pullCount != 3 {
		t.Errorf("accounted %d bytes in %d pulls, want %d in 3", s.pulledBytes, s.pullCount, 4*gb)
	}
}

// TestStoreGC: over 85% of the disk, unused images go, least recently used
// first, down to 80%; images of existing containers and pinned ones stay.
func TestStoreGC(t *testing.T) {
	s := newStore(1e9, 0, 10*gb, map[string]int64{"pause": 1})
	pull := func(img string, size int64, at time.Duration) {
		p, _ := s.ensure(img, size, at)
		s.finish(p)
	}
	s.ref([]string{"in-use"}, 0)
	pull("in-use", 3*gb, 0)
	pull("old", 2*gb, 10*time.Second)
	pull("newer", 2*gb, 20*time.Second)
	pull("big", 2*gb, 30*time.Second) // 9 GB + 1 byte: over 85%
	got := map[string]bool{}
	for img := range s.images {
		got[img] = true
	}
	want := map[string]bool{"pause": true, "in-use": true, "newer": true, "big": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images after GC (-want +got):\n%s", diff)
	}
	if s.gcCount != 1 {
		t.Errorf("collected %d images, want 1", s.gcCount)
	}
}

func TestStoreStatusImages(t *testing.T) {
	s := newStore(1e9, 0, 0, nil)
	for i := range 60 {
		p, _ := s.ensure(string(rune('A'+i)), int64(1000+i), 0)
		s.finish(p)
	}
	got := s.statusImages(50)
	if len(got) != 50 {
		t.Fatalf("%d images reported, want the cap of 50", len(got))
	}
	if diff := cmp.Diff(corev1.ContainerImage{Names: []string{string(rune('A' + 59))}, SizeBytes: 1059}, got[0]); diff != "" {
		t.Errorf("first image is not the largest (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].SizeBytes > got[i-1].SizeBytes {
			t.Fatalf("images not largest first at %d", i)
		}
	}
	if !s.takeDirty() || s.takeDirty() {
		t.Error("dirty flag: want set after pulls, clear after taking it")
	}
}

// Every pull pays the fixed cost, queued ones included, and it counts no
// bytes.
func TestStorePullOverhead(t *testing.T) {
	s := newStore(100e6, 500*time.Millisecond, 0, nil)
	a, _ := s.ensure("a", 1*gb, 0)
	b, _ := s.ensure("b", 1, time.Second)
	got := map[string]time.Duration{"a": a.end, "b": b.end}
	want := map[string]time.Duration{"a": 10*time.Second + 500*time.Millisecond, "b": 11*time.Second + 10*time.Nanosecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pull ends (-want +got):\n%s", diff)
	}
	if s.pulledBytes != gb+1 {
		t.Errorf("accounted %d bytes, want %d", s.pulledBytes, gb+1)
	}
}
