package webhook

import (
	"prepuller.dev/prepuller/pkg/keyhash"
	"prepuller.dev/prepuller/pkg/userpod"
)

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
	h := keyhash.String(keyhash.Offset, namespace)
	h = keyhash.Byte(h, '/')
	if p.Metadata.Name != "" {
		return keyhash.Finish(keyhash.String(h, p.Metadata.Name))
	}
	h = keyhash.String(h, p.Metadata.GenerateName)
	h = keyhash.Byte(h, '/')
	// Username, not userpod.User: its namespace/prefix fallback is hashed
	// already, and building that string would allocate.
	user := userpod.Username(p.Metadata.Annotations, p.Metadata.Labels)
	// Finished, since the key is used modulo the holder count: names that
	// differ in one last character must not land on neighbouring windows.
	return keyhash.Finish(keyhash.String(h, user))
}
