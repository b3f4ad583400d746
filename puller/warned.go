package puller

// maxWarned bounds the pull secret names the reconciler remembers having
// warned about. With per-user namespaces every user's pod may name a
// secret; the warning is about the name (copy it to prepuller's namespace),
// so one per name is enough, and past the bound the oldest is forgotten
// (and may be warned about again) rather than growing without end.
const maxWarned = 256

// warnedSet remembers up to max keys, forgetting the oldest first.
type warnedSet struct {
	max   int
	keys  map[string]bool
	order []string
}

func newWarnedSet(max int) *warnedSet {
	return &warnedSet{max: max, keys: map[string]bool{}}
}

// first reports whether key is new, and remembers it.
func (w *warnedSet) first(key string) bool {
	if w.keys[key] {
		return false
	}
	if len(w.order) >= w.max {
		delete(w.keys, w.order[0])
		w.order = w.order[1:]
	}
	w.keys[key] = true
	w.order = append(w.order, key)
	return true
}
