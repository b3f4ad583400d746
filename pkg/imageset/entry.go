package imageset

import (
	"slices"
	"sort"
	"time"
)

// Bounds on what one entry remembers. They keep the persisted state well
// under the ConfigMap size limit however many users a hub has; ranking by
// distinct users saturates at maxUsers, which is far above any useful
// MinUsers.
const (
	maxUsers = 64
	maxPods  = 16
)

// Entry is everything known about one image.
type Entry struct {
	Image     string    `json:"image"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	// Users maps each distinct user (or namespace/pod when a pod names no
	// user) to when it last used the image.
	Users map[string]time.Time `json:"users,omitempty"`
	// Pods counts distinct pods seen; RecentPods dedupes them.
	Pods       int                  `json:"pods"`
	RecentPods map[string]time.Time `json:"recentPods,omitempty"`
	// Running is the number of live user pods using the image at the last
	// sync. It is recomputed from the pod cache, never from the state.
	Running int `json:"running"`
	// PullSecrets maps a namespace to the pull secret names pods there used
	// with this image.
	PullSecrets map[string][]string `json:"pullSecrets,omitempty"`
	// PullAlways is true when the latest pod asked for imagePullPolicy Always.
	PullAlways bool `json:"pullAlways,omitempty"`
	// Size in bytes as a node reports it; zero while no node holds it.
	Size int64 `json:"size,omitempty"`
	// Static images come from configuration and never expire.
	Static bool `json:"static,omitempty"`
	// Recovered images were found in the live DaemonSet when the state was
	// missing or corrupt; they count as meeting MinUsers until they expire.
	Recovered bool `json:"recovered,omitempty"`
	// AddedAt is when the image first went into the DaemonSet.
	AddedAt *time.Time `json:"addedAt,omitempty"`
	// FailingSince is when puller pods started failing to pull the image on
	// enough nodes; nil while it is not failing.
	FailingSince *time.Time  `json:"failingSince,omitempty"`
	Quarantine   *Quarantine `json:"quarantine,omitempty"`
}

// Quarantine takes an image out of the DaemonSet until RetryAt.
type Quarantine struct {
	Since    time.Time `json:"since"`
	RetryAt  time.Time `json:"retryAt"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
}

// RecentUsers counts distinct users seen since the cutoff.
func (e *Entry) RecentUsers(since time.Time) int {
	n := 0
	for _, t := range e.Users {
		if !t.Before(since) {
			n++
		}
	}
	return n
}

// Quarantined reports whether the image is held out at now.
func (e *Entry) Quarantined(now time.Time) bool {
	return e.Quarantine != nil && now.Before(e.Quarantine.RetryAt)
}

func (e *Entry) observe(s Sighting) {
	if e.FirstSeen.IsZero() || s.Time.Before(e.FirstSeen) {
		e.FirstSeen = s.Time
	}
	if s.Time.After(e.LastSeen) {
		e.LastSeen = s.Time
		e.PullAlways = s.PullPolicy == "Always"
	}
	user := s.User
	if user == "" && s.Pod != "" {
		// One pod without a user name counts as one user; a restarted
		// server keeps its pod name, so it is not counted twice.
		user = s.Namespace + "/" + s.Pod
	}
	if user != "" {
		e.Users = touch(e.Users, user, s.Time, maxUsers)
	}
	if s.Pod != "" {
		key := s.Namespace + "/" + s.Pod
		if _, ok := e.RecentPods[key]; !ok {
			e.Pods++
		}
		e.RecentPods = touch(e.RecentPods, key, s.Time, maxPods)
	}
	for _, name := range s.PullSecrets {
		if name == "" {
			continue
		}
		if e.PullSecrets == nil {
			e.PullSecrets = map[string][]string{}
		}
		names := e.PullSecrets[s.Namespace]
		if !slices.Contains(names, name) {
			names = append(names, name)
			sort.Strings(names)
			e.PullSecrets[s.Namespace] = names
		}
	}
}

// touch records key at t, keeping at most limit keys (the most recent).
func touch(m map[string]time.Time, key string, t time.Time, limit int) map[string]time.Time {
	if m == nil {
		m = map[string]time.Time{}
	}
	if old, ok := m[key]; !ok || t.After(old) {
		m[key] = t
	}
	for len(m) > limit {
		var oldestKey string
		var oldest time.Time
		for k, v := range m {
			if oldestKey == "" || v.Before(oldest) || (v.Equal(oldest) && k < oldestKey) {
				oldestKey, oldest = k, v
			}
		}
		delete(m, oldestKey)
	}
	return m
}
