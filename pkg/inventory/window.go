package inventory

import "slices"

// window names max of the holding holders: in slot order, counting from
// position key mod holding and around the end, the holders at offsets
// floor(j*holding/max) for j = 0..max-1, so the names are spread evenly
// over the whole slot order instead of being a run of neighbours.
//
// Why spread: kube-scheduler, on a large cluster, filters and scores only
// a contiguous run of its node list (percentageOfNodesToScore) from a
// rotating start, and its list, like the slot order, mostly follows the
// order nodes were added. A run of max holders covers max/holding of the
// nodes, and a pod's scored run would miss it all together far more often
// than it misses max holders spread over every part of the list.
//
// The same key over the same inventory gives the same names (a reinvoked
// admission writes the same term); over the holding possible starts every
// holder is named exactly max times, so pods with different keys spread
// evenly over all holders. Slot order is stable while nodes stay (a slot
// changes hands only when a node goes and another comes), but the window
// moves with any change of the holder set: a new holder shifts the
// positions after it.
func (inv *Inventory) window(holders bitset, holding, max int, key uint64) []string {
	start := int(key % uint64(holding))
	out := make([]string, 0, max)
	// d is the offset of the current holder from start; next the offset
	// of the next holder to name, j its index. Divisions only at names:
	// the walk over thousands of holders stays a compare per holder.
	d := (holding - start) % holding
	j := (d*max + holding - 1) / holding // the first offset at or past d
	next := j * holding / max
	forEachAndNot(holders, nil, func(slot int) bool {
		if d == 0 { // back at start: the offsets begin again
			j, next = 0, 0
		}
		if j < max && d == next {
			out = append(out, inv.slots[slot].hostname)
			j++
			next = j * holding / max
		}
		d++
		if d == holding {
			d = 0
		}
		return len(out) < max
	})
	slices.Sort(out)
	return out
}
