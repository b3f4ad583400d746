package imageset

import (
	"encoding/json"
	"fmt"
	"sort"
)

// stateVersion is bumped on incompatible changes to the persisted form.
const stateVersion = 1

type persisted struct {
	Version int      `json:"version"`
	Images  []*Entry `json:"images"`
}

// Encode returns the set as JSON, at most maxBytes long (zero: no limit).
// When the set does not fit, the least valuable images that are not pulled
// (expired first, then the oldest) are left out; active and static images
// are never left out.
func (s *Set) Encode(maxBytes int, active map[string]bool) ([]byte, error) {
	entries := s.Entries()
	for {
		data, err := json.Marshal(persisted{Version: stateVersion, Images: entries})
		if err != nil {
			return nil, fmt.Errorf("encoding image set: %w", err)
		}
		if maxBytes <= 0 || len(data) <= maxBytes {
			return data, nil
		}
		victim := -1
		for i, e := range entries {
			if e.Static || active[e.Image] || e.Running > 0 {
				continue
			}
			if victim < 0 || e.LastSeen.Before(entries[victim].LastSeen) {
				victim = i
			}
		}
		if victim < 0 {
			return nil, fmt.Errorf("encoding image set: %d bytes exceed %d even with only pulled images", len(data), maxBytes)
		}
		entries = append(entries[:victim:victim], entries[victim+1:]...)
	}
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
		s.entries[e.Image] = e
	}
	return s, nil
}

// Merge adds what other knows to s (used when recovering: images in the
// live DaemonSet are merged into a freshly learned set).
func (s *Set) Merge(other *Set) {
	for img, o := range other.entries {
		e := s.entries[img]
		if e == nil {
			s.entries[img] = o
			continue
		}
		if o.FirstSeen.Before(e.FirstSeen) {
			e.FirstSeen = o.FirstSeen
		}
		if o.LastSeen.After(e.LastSeen) {
			e.LastSeen = o.LastSeen
		}
		for u, t := range o.Users {
			e.Users = touch(e.Users, u, t, maxUsers)
		}
	}
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
