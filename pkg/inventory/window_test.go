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
		if again := inv.Presence(win, int(max), key); !slices.Equal(again.Hostnames, p.Hostnames) {
			t.Fatalf("not deterministic: %v then %v", p.Hostnames, again.Hostnames)
		}
	})
}
