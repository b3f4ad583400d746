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
	// maxSecretNamespaces bounds the namespaces whose pull secrets an
	// entry remembers, besides the set's own (see Set.SetOwnNamespace).
	// With KubeSpawner's per-user namespaces every user adds one, and
	// only the own namespace's secrets are ever used; the others are kept
	// to name them in warnings, where a few recent ones say enough.
	maxSecretNamespaces = 8
	// maxSecretNames bounds the names kept per namespace: a pod may list
	// any number of imagePullSecrets.
	maxSecretNames = 8
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
	// PullSecrets maps a namespace to the pull secret names (sorted, at
	// most maxSecretNames) pods there used with this image. It keeps the
	// set's own namespace and the maxSecretNamespaces others that used a
	// secret most recently (SecretsSeen).
	PullSecrets map[string][]string `json:"pullSecrets,omitempty"`
	// SecretsSeen is when each namespace in PullSecrets last used a pull
	// secret with this image. States written before it existed lack it;
	// their namespaces count as the least recent.
	SecretsSeen map[string]time.Time `json:"secretsSeen,omitempty"`
	// PullAlways is true when the latest pod asked for imagePullPolicy Always.
	PullAlways bool `json:"pullAlways,omitempty"`
	// Size in bytes as a node reports it; zero while no node holds it.
	Size int64 `json:"size,omitempty"`
	// Static images come from configuration and never expire.
	Static bool `json:"static,omitempty"`
	// Recovered images were found in the live DaemonSet when the state was
	// missing or corrupt; they count as meeting MinUsers until they expire.
	Recovered bool `json:"recovered,omitempty"`
	// RecoveredUsers and RecoveredSeen are the distinct users and the last
	// use the DaemonSet recorded for a recovered image (see Tally). Until
	// RecoveredSeen is older than the TTL, the image ranks with at least
	// RecoveredUsers users, so a rebuilt set ranks as the lost one did.
	RecoveredUsers int       `json:"recoveredUsers,omitempty"`
	RecoveredSeen  time.Time `json:"recoveredSeen,omitzero"`
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

// ForeignSecrets returns the distinct pull secret names pods used with the
// image outside namespace own, sorted. The puller can use only its own
// namespace's secrets, so these are the ones to warn about, once per name
// rather than per namespace. There are at most maxSecretNamespaces *
// maxSecretNames of them.
func (e *Entry) ForeignSecrets(own string) []string {
	var out []string
	for ns, names := range e.PullSecrets {
		if ns != own {
			out = append(out, names...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (e *Entry) observe(s Sighting, own string) {
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
	if e.addSecrets(s.Namespace, s.PullSecrets, s.Time) {
		e.trimSecrets(maxSecretNamespaces, own)
	}
}

// trimSecrets forgets the least recently seen namespaces but own until at
// most limit others are left. One sighting adds one namespace, so this
// removes one, in place.
func (e *Entry) trimSecrets(limit int, own string) {
	for otherNamespaces(e.PullSecrets, own) > limit {
		var oldestNS string
		var oldest time.Time
		for ns := range e.PullSecrets {
			t := e.SecretsSeen[ns]
			if ns != own && (oldestNS == "" || t.Before(oldest) || (t.Equal(oldest) && ns > oldestNS)) {
				oldestNS, oldest = ns, t
			}
		}
		delete(e.PullSecrets, oldestNS)
		delete(e.SecretsSeen, oldestNS)
	}
}

// addSecrets records the secret names a pod in ns used at t, and reports
// whether it did (the sighting named one). Past maxSecretNames, the names
// of this sighting are kept before older ones.
func (e *Entry) addSecrets(ns string, names []string, t time.Time) bool {
	var merged []string
	for _, name := range names {
		if name != "" && !slices.Contains(merged, name) {
			merged = append(merged, name)
		}
	}
	if len(merged) == 0 {
		return false
	}
	for _, name := range e.PullSecrets[ns] {
		if !slices.Contains(merged, name) {
			merged = append(merged, name)
		}
	}
	merged = merged[:min(len(merged), maxSecretNames)]
	sort.Strings(merged)
	if e.PullSecrets == nil {
		e.PullSecrets = map[string][]string{}
	}
	e.PullSecrets[ns] = merged
	if e.SecretsSeen == nil {
		e.SecretsSeen = map[string]time.Time{}
	}
	if old, ok := e.SecretsSeen[ns]; !ok || t.After(old) {
		e.SecretsSeen[ns] = t
	}
	return true
}

// recentSecrets returns the pull secrets of own and of the limit other
// namespaces seen most recently, with their times: the maps themselves
// when nothing is left out, else new ones (the caller's are not changed).
func recentSecrets(secrets map[string][]string, seen map[string]time.Time, limit int, own string) (map[string][]string, map[string]time.Time) {
	others := otherNamespaces(secrets, own)
	if others <= limit {
		return secrets, seen
	}
	keys := make([]string, 0, others)
	for ns := range secrets {
		if ns != own {
			keys = append(keys, ns)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		ti, tj := seen[keys[i]], seen[keys[j]]
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return keys[i] < keys[j]
	})
	keys = keys[:min(len(keys), limit)]
	if _, ok := secrets[own]; ok {
		keys = append(keys, own)
	}
	outSecrets := make(map[string][]string, len(keys))
	outSeen := make(map[string]time.Time, len(keys))
	for _, ns := range keys {
		outSecrets[ns] = secrets[ns]
		if t, ok := seen[ns]; ok {
			outSeen[ns] = t
		}
	}
	if len(outSeen) == 0 {
		outSeen = nil
	}
	return outSecrets, outSeen
}

// otherNamespaces counts the namespaces in secrets but own.
func otherNamespaces(secrets map[string][]string, own string) int {
	if _, ok := secrets[own]; ok {
		return len(secrets) - 1
	}
	return len(secrets)
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
