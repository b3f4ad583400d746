package imageset

import (
	"sort"
	"time"
)

// Set is the learned image set. It is not safe for concurrent use: the
// puller controller owns it and feeds it from one goroutine.
type Set struct {
	entries map[string]*Entry
	// own is the namespace whose pull secrets are never trimmed.
	own string
}

// New returns an empty set.
func New() *Set { return &Set{entries: map[string]*Entry{}} }

// Observe records one sighting. Sightings without an image are ignored.
func (s *Set) Observe(sg Sighting) {
	if sg.Image == "" {
		return
	}
	e := s.entries[sg.Image]
	if e == nil {
		e = &Entry{Image: sg.Image}
		s.entries[sg.Image] = e
	}
	e.observe(sg, s.own)
}

// SetOwnNamespace names the namespace whose recorded pull secrets are
// always kept: prepuller's own, the only one whose secrets the puller
// DaemonSet can use. Those of other namespaces are kept for the most
// recent few only. It trims every entry at once, so a state saved before
// secrets were bounded shrinks as soon as it is loaded.
func (s *Set) SetOwnNamespace(ns string) {
	s.own = ns
	for _, e := range s.entries {
		e.PullSecrets, e.SecretsSeen = recentSecrets(e.PullSecrets, e.SecretsSeen, maxSecretNamespaces, ns)
	}
}

// SetRunning replaces every entry's running-pod count. Images missing from
// counts have no running pod.
func (s *Set) SetRunning(counts map[string]int) {
	for img, e := range s.entries {
		e.Running = counts[img]
	}
}

// SetStatic marks exactly the given images static, adding those not yet
// known with now as their first sighting.
func (s *Set) SetStatic(images []string, now time.Time) {
	want := map[string]bool{}
	for _, img := range images {
		want[img] = true
	}
	for img, e := range s.entries {
		e.Static = want[img]
	}
	for img := range want {
		if s.entries[img] == nil {
			s.entries[img] = &Entry{Image: img, FirstSeen: now, LastSeen: now, Static: true}
		}
	}
}

// Tally is what the puller DaemonSet records of one image it pulls (see
// puller/render): its distinct users and last use, as the set ranked it.
// It outlives a lost or corrupt state, so that a rebuilt set ranks the
// images as the lost one did.
type Tally struct {
	Users    int       `json:"users"`
	LastSeen time.Time `json:"lastSeen"`
}

// Recover adds images known only from the live DaemonSet, in its init
// container order, with what it recorded of each (tallies; nil when it
// recorded nothing). Known images are left as they are. Each gets an
// AddedAt one nanosecond after the previous one, so the pull order (see
// Evaluation.Active) is the live one and recovering does not roll the
// puller pods. An image without a tally is taken as last seen at now by
// one user; a tally's last use after now is taken as now.
func (s *Set) Recover(images []string, tallies map[string]Tally, now time.Time) {
	for i, image := range images {
		if s.entries[image] != nil {
			continue
		}
		added := now.Add(time.Duration(i))
		e := &Entry{Image: image, FirstSeen: now, LastSeen: now, Recovered: true, AddedAt: &added, RecoveredUsers: 1, RecoveredSeen: now}
		if t, ok := tallies[image]; ok && t.Users > 0 && !t.LastSeen.IsZero() {
			// A last use after now is another clock's: take it as now
			// rather than lose the users.
			seen := t.LastSeen
			if seen.After(now) {
				seen = now
			}
			e.FirstSeen, e.LastSeen = seen, seen
			e.RecoveredUsers, e.RecoveredSeen = min(t.Users, maxUsers), seen
		}
		s.entries[image] = e
	}
}

// ClearAdded forgets when the images not in active went into the
// DaemonSet, once a write took them out: one that comes back is added
// anew (at the end of the pull order, and a newcomer to the rules that
// protect images in use).
func (s *Set) ClearAdded(active []*Entry) {
	in := make(map[*Entry]bool, len(active))
	for _, e := range active {
		in[e] = true
	}
	for _, e := range s.entries {
		if !in[e] {
			e.AddedAt = nil
		}
	}
}

// Get returns the entry for an image, or nil.
func (s *Set) Get(image string) *Entry { return s.entries[image] }

// Len is the number of images tracked.
func (s *Set) Len() int { return len(s.entries) }

// Entries returns the entries sorted by image.
func (s *Set) Entries() []*Entry {
	out := make([]*Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Image < out[j].Image })
	return out
}

// Prune forgets images that have been expired for another full TTL (they
// are kept that long so metrics and the state show them as expired).
func (s *Set) Prune(now time.Time, ttl time.Duration) []string {
	var gone []string
	for img, e := range s.entries {
		if e.Static || e.Running > 0 || e.Quarantined(now) {
			continue
		}
		if now.Sub(e.LastSeen) > 2*ttl {
			delete(s.entries, img)
			gone = append(gone, img)
		}
	}
	sort.Strings(gone)
	return gone
}
