package inventory

import "math/bits"

// bitset is a set of node slots. One bit per node keeps a popular image's
// holder set at N/8 bytes instead of N string headers, and makes "eligible
// nodes lacking this image" a word-wise AND NOT instead of a string merge.
type bitset []uint64

func (b bitset) has(i int) bool {
	w := i / 64
	return w < len(b) && b[w]&(1<<(uint(i)%64)) != 0
}

// set returns the (possibly grown) set with i added and whether it was new.
func (b bitset) set(i int) (bitset, bool) {
	w := i / 64
	for len(b) <= w {
		b = append(b, 0)
	}
	m := uint64(1) << (uint(i) % 64)
	if b[w]&m != 0 {
		return b, false
	}
	b[w] |= m
	return b, true
}

// clear removes i and reports whether it was present.
func (b bitset) clear(i int) bool {
	w := i / 64
	if w >= len(b) {
		return false
	}
	m := uint64(1) << (uint(i) % 64)
	if b[w]&m == 0 {
		return false
	}
	b[w] &^= m
	return true
}

// andNot returns a new set of the slots in a and not in b.
func andNot(a, b bitset) bitset {
	out := make(bitset, len(a))
	for w, word := range a {
		if w < len(b) {
			word &^= b[w]
		}
		out[w] = word
	}
	return out
}

// forEach calls fn for every slot in a, and, when not nil, not in b.
// It stops when fn returns false.
func forEachAndNot(a, b bitset, fn func(int) bool) {
	for w, word := range a {
		if w < len(b) {
			word &^= b[w]
		}
		for word != 0 {
			t := bits.TrailingZeros64(word)
			if !fn(w*64 + t) {
				return
			}
			word &= word - 1
		}
	}
}
