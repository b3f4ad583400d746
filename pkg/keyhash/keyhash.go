// Package keyhash hashes short strings into well-mixed 64-bit keys without
// allocating, for the places that pick nodes by hash: the webhook's
// steering window and the puller's placement order.
//
// FNV-1a alone is not enough there. Node names that differ only in their
// last characters (user-node-0120 ... user-node-0129) get FNV values that
// differ only by small multiples of the prime, so sorting nodes by it puts
// them side by side, and picking the first k picks a run of neighbouring
// nodes. kube-scheduler scores a contiguous run of its node list on large
// clusters, so a run of neighbours is missed all together. Finish spreads
// every input bit over all output bits.
package keyhash

// Offset is the FNV-1a 64-bit offset basis: the hash of nothing.
const Offset uint64 = 14695981039346656037

const prime uint64 = 1099511628211

// String folds s into h (FNV-1a, 64 bits).
func String(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return h
}

// Byte folds one byte into h, e.g. a separator that no string can forge.
func Byte(h uint64, b byte) uint64 {
	h ^= uint64(b)
	return h * prime
}

// Finish is splitmix64's finalizer: a bijection in which every input bit
// changes every output bit with probability about one half.
func Finish(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
