package inventory

import (
	"fmt"
	"slices"
	"testing"

	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
)

// windowInventory has nodes w000..; the image "win" is on the nodes whose
// bit is set in held.
func windowInventory(held []bool) *Inventory {
	inv := New()
	for i, h := range held {
		w := it.MakeNode(fmt.Sprintf("w%03d", i)).Image(1, "other")
		if h {
			w.Image(1, "win")
		}
		inv.UpsertNode(w.Obj())
	}
	return inv
}

const win = "docker.io/library/win:latest"

// Keys taken in turn put every holder in exactly as many windows as any
// other: the windows spread pods evenly over all holders.
func TestWindowSpreadsEvenly(t *testing.T) {
	held := make([]bool, 60)
	for i := range held {
		held[i] = i%3 == 0 // 20 holders of 60: neither side fits 5 names
	}
	inv := windowInventory(held)
	const max, keys = 5, 20 * 100
	chosen := map[string]int{}
	for key := range uint64(keys) {
		p := inv.Presence(win, max, key)
		if !p.Window || len(p.Hostnames) != max {
			t.Fatalf("key %d: %+v, want a window of %d", key, p, max)
		}
		for _, h := range p.Hostnames {
			chosen[h]++
		}
	}
	if len(chosen) != 20 {
		t.Fatalf("%d holders ever chosen, want all 20: %v", len(chosen), chosen)
	}
	for h, n := range chosen {
		if n != keys*max/20 {
			t.Errorf("%s chosen %d times, want %d (every holder alike)", h, n, keys*max/20)
		}
	}
}

// A window is spread over the slot order: at 5,000 nodes with the image on
// every 20th, each pod's 100 names fall in every tenth of the node list,
// which is what kube-scheduler's sample of a cluster that size (about 10%
// of its node list, a contiguous run) needs to find one. A run of 100
// neighbouring holders would span 2,000 nodes and miss most such runs.
func TestWindowSpreadsOverTheNodeList(t *testing.T) {
	const nodes, every, max, run = 5000, 20, 100, 500
	held := make([]bool, nodes)
	for i := range held {
		held[i] = i%every == 0
	}
	inv := windowInventory(held)
	index := map[string]int{}
	for i := range nodes {
		index[fmt.Sprintf("w%03d", i)] = i
	}
	for key := range uint64(300) {
		p := inv.Presence(win, max, key*0x9e3779b97f4a7c15)
		if !p.Window || len(p.Hostnames) != max {
			t.Fatalf("key %d: %d names, window %v; want a window of %d", key, len(p.Hostnames), p.Window, max)
		}
		for start := 0; start < nodes; start += run / 2 {
			in := 0
			for _, h := range p.Hostnames {
				if (index[h]-start+nodes)%nodes < run {
					in++
				}
			}
			// 100 names over 5,000 nodes: 10 per 500, at least 9.
			if in < 9 {
				t.Fatalf("key %d: nodes %d-%d (of %d) hold %d of the %d names, want at least 9", key, start, start+run-1, nodes, in, max)
			}
		}
	}
}

// onStride says whether offset d (0 <= d < holding) is floor(j*holding/max)
// for some j < max: the window's rule, restated. The least j that reaches
// d is ceil(d*max/holding); d is on the stride when that j lands on d.
func onStride(d, holding, max int) bool {
	j := (d*max + holding - 1) / holding
	return j < max && j*holding/max == d
}

// The rule marks exactly max distinct offsets below holding, the first at
// zero, none two apart by less than holding/max rounded down.
func TestOnStride(t *testing.T) {
	for holding := 2; holding <= 60; holding++ {
		for max := 1; max < holding; max++ {
			var offs []int
			for d := range holding {
				if onStride(d, holding, max) {
					offs = append(offs, d)
				}
			}
			if len(offs) != max || offs[0] != 0 {
				t.Fatalf("holding %d, max %d: offsets %v", holding, max, offs)
			}
			for k := 1; k < len(offs); k++ {
				if offs[k]-offs[k-1] < holding/max {
					t.Fatalf("holding %d, max %d: offsets %v closer than %d", holding, max, offs, holding/max)
				}
			}
		}
	}
}

// FuzzWindow: whatever holds the image and whatever the key, the names are
// at most max distinct holders, sorted, the same on a second call, never
// none while some nodes hold it and some lack it, and exactly max when a
// window is named (only when neither holders nor lackers fit).
func FuzzWindow(f *testing.F) {
	f.Add([]byte{0b10110110, 0xff, 0x0f}, uint8(3), uint64(7))
	f.Add([]byte{0xaa, 0x55}, uint8(1), uint64(0))
	f.Add([]byte{0xff}, uint8(8), ^uint64(0))
	f.Fuzz(func(t *testing.T, mask []byte, max uint8, key uint64) {
		if len(mask) > 64 {
			mask = mask[:64]
		}
		held := make([]bool, 8*len(mask))
		holders := map[string]bool{}
		for i := range held {
			held[i] = mask[i/8]&(1<<(i%8)) != 0
			if held[i] {
				holders[fmt.Sprintf("w%03d", i)] = true
			}
		}
		inv := windowInventory(held)
		p := inv.Presence(win, int(max), key)
		if p.Holding != len(holders) {
			t.Fatalf("holding %d, want %d", p.Holding, len(holders))
		}
		if len(p.Hostnames) > int(max) {
			t.Fatalf("%d names, max %d", len(p.Hostnames), max)
		}
		if !slices.IsSorted(p.Hostnames) || len(slices.Compact(slices.Clone(p.Hostnames))) != len(p.Hostnames) {
			t.Fatalf("names not sorted and distinct: %v", p.Hostnames)
		}
		if !p.Complement {
			for _, h := range p.Hostnames {
				if !holders[h] {
					t.Fatalf("%s named but does not hold the image", h)
				}
			}
		}
		if h, e, m := p.Holding, p.Eligible, int(max); h > 0 && h < e && m > 0 {
			// Someone holds it and someone lacks it: a term is always named.
			if len(p.Hostnames) == 0 {
				t.Fatalf("%d of %d hold, max %d: no names", h, e, m)
			}
			if wantWindow := h > m && e-h > m; p.Window != wantWindow {
				t.Fatalf("%d of %d hold, max %d: window %v, want %v", h, e, m, p.Window, wantWindow)
			}
		}
		if p.Window && len(p.Hostnames) != int(max) {
			t.Fatalf("a window of %d names, want %d", len(p.Hostnames), max)
		}
		if p.Window {
			// Exactly the holders on the stride from the key's start, in
			// slot order (here the order the nodes were added).
			var inOrder []string
			for i, h := range held {
				if h {
					inOrder = append(inOrder, fmt.Sprintf("w%03d", i))
				}
			}
			start := int(key % uint64(len(inOrder)))
			var want []string
			for i, name := range inOrder {
				if onStride((i-start+len(inOrder))%len(inOrder), len(inOrder), int(max)) {
					want = append(want, name)
				}
			}
			slices.Sort(want)
			if !slices.Equal(p.Hostnames, want) {
				t.Fatalf("key %d over %d holders, max %d: window %v, want %v", key, len(inOrder), max, p.Hostnames, want)
			}
		}
		if again := inv.Presence(win, int(max), key); !slices.Equal(again.Hostnames, p.Hostnames) {
			t.Fatalf("not deterministic: %v then %v", p.Hostnames, again.Hostnames)
		}
	})
}
