package imageref

import (
	"fmt"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	cases := map[string]*Cache{"nil cache": nil, "cache": NewCache(8)}
	inputs := []string{"jupyter/scipy-notebook", "ubuntu:22.04", "Not Valid", "", "jupyter/scipy-notebook"}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for range 2 { // the second round is answered from the cache
				for _, in := range inputs {
					want, wantErr := Normalize(in)
					got, err := c.Normalize(in)
					if got != want || (err == nil) != (wantErr == nil) {
						t.Errorf("Normalize(%q) = %q, %v; want %q, %v", in, got, err, want, wantErr)
					}
				}
			}
		})
	}
}

// TestCacheBounded: a flood of distinct references never grows the cache
// past its bound, and it keeps answering correctly while it refills.
func TestCacheBounded(t *testing.T) {
	c := NewCache(16)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				in := fmt.Sprintf("org/image-%d:%d", g, i)
				got, err := c.Normalize(in)
				if err != nil || got != "docker.io/"+in {
					t.Errorf("Normalize(%q) = %q, %v", in, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 16+4 {
		t.Errorf("cache holds %d references, bound 16 (+4 concurrent callers)", n)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c := NewCache(64)
	const raw = "jupyter/scipy-notebook:2024"
	_, _ = c.Normalize(raw)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Normalize(raw)
	}
}
