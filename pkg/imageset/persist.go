package imageset

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// stateVersion is bumped on incompatible changes to the persisted form.
// Additions an older release ignores safely keep it: secretsSeen (with
// pull secrets bounded per entry) came without a bump, so a rollback
// still reads the state, and states without it load (their namespaces
// count as the least recently seen).
const stateVersion = 1

type persisted struct {
	Version int      `json:"version"`
	Images  []*Entry `json:"images"`
}

// Shed says what Encode left out to fit the limit.
type Shed struct {
	// Dropped are images left out of the document, least recently seen
	// first.
	Dropped []string
	// Shrunk is the number of entries written with fewer users, recent
	// pods and pull secret namespaces than the set holds (their most
	// recent ones; the own namespace's secrets are always kept).
	Shrunk int
}

// shrinkLimits are the user and recent-pod counts tried, largest first,
// when even the pulled images alone do not fit. The same limits apply to
// the namespaces with pull secrets.
var shrinkLimits = []int{32, 16, 8, 4, 2, 1}

// Encode returns the set as JSON, at most maxBytes long (zero: no limit).
// When the set does not fit, the images that are not pulled (not active,
// static or running) are left out, least recently seen first; if the
// pulled ones alone still do not fit, their user, recent-pod and
// pull-secret lists are cut to the most recent entries, largest entries
// first (the own namespace's secrets are kept). Each entry is
// marshalled once (and once more per cut), so the cost stays linear in the
// set however much is left out.
func (s *Set) Encode(maxBytes int, active map[string]bool) ([]byte, Shed, error) {
	// The same document json.Marshal(persisted{...}) gives, assembled
	// from entries marshalled once.
	head, tail := fmt.Sprintf(`{"version":%d,"images":[`, stateVersion), `]}`
	var shed Shed
	entries := s.Entries()
	raw := make([][]byte, len(entries))
	sum, kept := 0, len(entries)
	for i, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, shed, fmt.Errorf("encoding image set: %w", err)
		}
		raw[i] = b
		sum += len(b)
	}
	size := func() int { return len(head) + len(tail) + sum + max(kept-1, 0) }
	fits := func() bool { return maxBytes <= 0 || size() <= maxBytes }

	if !fits() {
		var victims []int
		for i, e := range entries {
			if !e.Static && !active[e.Image] && e.Running == 0 {
				victims = append(victims, i)
			}
		}
		sort.Slice(victims, func(a, b int) bool {
			ea, eb := entries[victims[a]], entries[victims[b]]
			if !ea.LastSeen.Equal(eb.LastSeen) {
				return ea.LastSeen.Before(eb.LastSeen)
			}
			return ea.Image < eb.Image
		})
		for _, i := range victims {
			if fits() {
				break
			}
			sum -= len(raw[i])
			kept--
			raw[i] = nil
			shed.Dropped = append(shed.Dropped, entries[i].Image)
		}
	}
	if !fits() {
		shrunk := map[int]bool{}
		for _, limit := range shrinkLimits {
			var big []int
			for i, e := range entries {
				if raw[i] != nil && (len(e.Users) > limit || len(e.RecentPods) > limit || otherNamespaces(e.PullSecrets, s.own) > limit) {
					big = append(big, i)
				}
			}
			sort.Slice(big, func(a, b int) bool { return len(raw[big[a]]) > len(raw[big[b]]) })
			for _, i := range big {
				if fits() {
					break
				}
				c := *entries[i]
				c.Users = mostRecent(c.Users, limit)
				c.RecentPods = mostRecent(c.RecentPods, limit)
				c.PullSecrets, c.SecretsSeen = recentSecrets(c.PullSecrets, c.SecretsSeen, limit, s.own)
				b, err := json.Marshal(&c)
				if err != nil {
					return nil, shed, fmt.Errorf("encoding image set: %w", err)
				}
				sum += len(b) - len(raw[i])
				raw[i] = b
				shrunk[i] = true
			}
			if fits() {
				break
			}
		}
		shed.Shrunk = len(shrunk)
	}
	if !fits() {
		return nil, shed, fmt.Errorf("encoding image set: %d bytes exceed %d even with only pulled images and one user, pod and secret namespace each", size(), maxBytes)
	}
	out := make([]byte, 0, size())
	out = append(out, head...)
	first := true
	for _, b := range raw {
		if b == nil {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, b...)
	}
	return append(out, tail...), shed, nil
}

// mostRecent returns a copy of m with its limit most recent keys (m itself
// when it is small enough).
func mostRecent(m map[string]time.Time, limit int) map[string]time.Time {
	if len(m) <= limit {
		return m
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if !m[keys[i]].Equal(m[keys[j]]) {
			return m[keys[i]].After(m[keys[j]])
		}
		return keys[i] < keys[j]
	})
	out := make(map[string]time.Time, limit)
	for _, k := range keys[:limit] {
		out[k] = m[k]
	}
	return out
}

// Decode reads a set written by Encode. A corrupt or unknown payload is an
// error, never a silently empty set, so the caller can keep the old data.
func Decode(data []byte) (*Set, error) {
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decoding image set: %w", err)
	}
	if p.Version != stateVersion {
		return nil, fmt.Errorf("decoding image set: unsupported version %d (want %d)", p.Version, stateVersion)
	}
	s := New()
	for i, e := range p.Images {
		if e == nil || e.Image == "" {
			return nil, fmt.Errorf("decoding image set: entry %d has no image", i)
		}
		if _, dup := s.entries[e.Image]; dup {
			return nil, fmt.Errorf("decoding image set: image %q listed twice", e.Image)
		}
		// A time without secrets would be written back forever.
		for ns := range e.SecretsSeen {
			if _, ok := e.PullSecrets[ns]; !ok {
				delete(e.SecretsSeen, ns)
			}
		}
		if len(e.SecretsSeen) == 0 {
			e.SecretsSeen = nil
		}
		// Hand-editable: a recovered floor must not rank an image above
		// what an entry can count (a future RecoveredSeen is ignored by
		// Evaluate).
		e.RecoveredUsers = max(0, min(e.RecoveredUsers, maxUsers))
		s.entries[e.Image] = e
	}
	return s, nil
}

// Fingerprint is the encoded set with the fields that change on every sync
// (last-seen times, running counts) left out. The controller writes the
// state at once when it changes and only now and then otherwise.
func (s *Set) Fingerprint() string {
	type lite struct {
		Image      string
		Users      []string
		Secrets    map[string][]string
		Static     bool
		Added      bool
		Failing    bool
		Quarantine *Quarantine
		Size       int64
	}
	var all []lite
	for _, e := range s.Entries() {
		users := make([]string, 0, len(e.Users))
		for u := range e.Users {
			users = append(users, u)
		}
		sort.Strings(users)
		all = append(all, lite{e.Image, users, e.PullSecrets, e.Static, e.AddedAt != nil, e.FailingSince != nil, e.Quarantine, e.Size})
	}
	data, _ := json.Marshal(all) // plain data: cannot fail
	return string(data)
}
