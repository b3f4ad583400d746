package inventory

import "slices"

// window names max of the holding holders: the run of max that starts at
// position key mod holding in slot order and wraps around. The same key
// over the same inventory gives the same names (a reinvoked admission
// writes the same term), and over many keys every holder is in exactly max
// of the holding possible windows, so pods with different keys spread
// evenly over all holders instead of piling onto the first max.
//
// Slot order is stable while nodes stay (a slot changes hands only when a
// node goes and another comes), but the window moves with any change of
// the holder set: a new holder shifts the positions after it.
func (inv *Inventory) window(holders bitset, holding, max int, key uint64) []string {
	start := int(key % uint64(holding))
	out := make([]string, 0, max)
	i := 0
	forEachAndNot(holders, nil, func(slot int) bool {
		// Position i is in the window when it is at most max-1 past start,
		// counting around the end.
		if (i-start+holding)%holding < max {
			out = append(out, inv.slots[slot].hostname)
		}
		i++
		return len(out) < max
	})
	slices.Sort(out)
	return out
}
