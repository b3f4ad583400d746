package bench

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkHandle is one admission in-process, decoded request to response
// with its patch, for clusters of 100, 1,000 and 5,000 nodes and each
// steering outcome.
func BenchmarkHandle(b *testing.B) {
	for _, nodes := range []int{100, 1000, 5000} {
		inv := newInventory(nodes)
		h := newHandler(b, inv)
		for _, hs := range holderShares {
			b.Run(fmt.Sprintf("nodes=%d/holders=%s", nodes, hs.name), func(b *testing.B) {
				req := admissionRequest(b, userPod("jupyter-alice", steeringImage(hs.name)))
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if resp := h.Handle(ctx, req); !resp.Allowed {
						b.Fatal("pod not allowed")
					}
				}
			})
		}
	}
}
