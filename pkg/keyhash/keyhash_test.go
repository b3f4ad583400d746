package keyhash

import (
	"fmt"
	"sort"
	"testing"
)

// Sorting neighbouring names by their finished hash scatters them: of the
// first 32 of 1,000 names like user-node-0123, no ten share a hundred. On
// FNV-1a alone the first 32 are one run (830-839, 820-829, 810-819, ...).
func TestFinishScattersNeighbours(t *testing.T) {
	for _, prefix := range []string{"img-a|", "quay.io/org/image:tag|"} {
		type named struct {
			i   int
			key uint64
		}
		var xs []named
		for i := range 1000 {
			xs = append(xs, named{i, Finish(String(String(Offset, prefix), fmt.Sprintf("user-node-%04d", i)))})
		}
		sort.Slice(xs, func(a, b int) bool { return xs[a].key < xs[b].key })
		perHundred := map[int]int{}
		for _, x := range xs[:32] {
			perHundred[x.i/100]++
		}
		for h, n := range perHundred {
			if n >= 10 {
				t.Errorf("%s: %d of the first 32 names are in %d00-%d99", prefix, n, h, h)
			}
		}
	}
}

func TestStringMatchesFNV1a(t *testing.T) {
	// FNV-1a 64 of "a" is af63dc4c8601ec8c (the published test vector).
	if got := String(Offset, "a"); got != 0xaf63dc4c8601ec8c {
		t.Errorf("String(Offset, %q) = %x, want af63dc4c8601ec8c", "a", got)
	}
	if String(Offset, "ab") != Byte(Byte(Offset, 'a'), 'b') {
		t.Error("String and Byte disagree")
	}
}

func TestStringAllocatesNothing(t *testing.T) {
	s := "quay.io/jupyter/scipy-notebook:2024-01-15"
	if n := testing.AllocsPerRun(100, func() { _ = Finish(String(Offset, s)) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
