package webhook

import "prepuller.dev/prepuller/pkg/userpod"

// steerKey picks, for a pod whose image is on more nodes than a term may
// name, which window of holders it is steered to (inventory.Presence). It
// depends only on what the pod carries, so a reinvocation of the webhook
// for the same pod computes the same key and the same term; and it
// differs from pod to pod, so users spread over all holders.
//
// A pod with a name (KubeSpawner names them jupyter-<user>) is keyed by
// namespace and name; one with only generateName by the prefix and its
// KubeSpawner user name, which are all it carries before the API server
// names it (pods of one owner with no user name share a window).
func steerKey(namespace string, p *podView) uint64 {
	h := fnvOffset
	h = fnvString(h, namespace)
	h = fnvString(h, "/")
	if p.Metadata.Name != "" {
		return mix(fnvString(h, p.Metadata.Name))
	}
	h = fnvString(h, p.Metadata.GenerateName)
	h = fnvString(h, "/")
	// The annotation or label as userpod.User reads them, without its
	// namespace/prefix fallback: those are hashed already, and building
	// that string would allocate.
	user := p.Metadata.Annotations[userpod.AnnotationUsername]
	if user == "" {
		user = p.Metadata.Labels[userpod.LabelUsername]
	}
	return mix(fnvString(h, user))
}

// FNV-1a, 64 bits, written out so that keying a pod allocates nothing.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix spreads every input bit over the low bits too (splitmix64's
// finalizer): the key is used modulo the holder count, and names that
// differ in one last character must not land on neighbouring windows.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
