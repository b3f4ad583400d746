package ops

import (
	"fmt"
	"slices"
	"time"

	"prepuller.dev/prepuller/pkg/imageset"
)

// Image states in prepuller status.
const (
	StateEverywhere  = "everywhere"  // in the DaemonSet, on every eligible node
	StatePlaced      = "placed"      // in the DaemonSet, on some eligible nodes
	StateWaiting     = "waiting"     // chosen, not yet written (write window, rollout)
	StateHeld        = "held"        // kept out by policy (minUsers, caps, allow/deny)
	StateQuarantined = "quarantined" // failed to pull, waits for a retry
	StateExpiring    = "expiring"    // in the DaemonSet, leaves within expiringWithin
	StateExpired     = "expired"     // unused for the TTL, leaves the state
)

// expiringWithin is how close to its TTL an unused image is reported as
// expiring: long enough to notice in a daily check.
const expiringWithin = 24 * time.Hour

// Row is one image in prepuller status.
type Row struct {
	Image    string     `json:"image"`
	State    string     `json:"state"`
	Reason   string     `json:"reason,omitempty"`
	Users    int        `json:"users"`
	Running  int        `json:"running"`
	LastSeen *time.Time `json:"lastSeen,omitempty"`
	Holders  int        `json:"holders"`
	Eligible int        `json:"eligible"`
	Size     int64      `json:"size,omitempty"`
	// Source is "configured" (puller.staticImages) or "learned".
	Source      string `json:"source"`
	InDaemonSet bool   `json:"inDaemonSet"`
}

// Summary is the status summary line.
type Summary struct {
	Images int `json:"images"` // pulled by the DaemonSet
	// BytesPerNode sums the known sizes of the pulled images.
	BytesPerNode int64      `json:"bytesPerNode"`
	Eligible     int        `json:"eligibleNodes"`
	Nodes        int        `json:"nodes"`
	LastWrite    *time.Time `json:"lastDaemonSetWrite,omitempty"`
	Leader       string     `json:"leader,omitempty"`
	// Running is false when no replica holds a current Lease.
	Running bool `json:"running"`
	// Notes say what is missing (no state, no DaemonSet, no leader).
	Notes []string `json:"notes,omitempty"`
}

// Status is the whole prepuller status report.
type Status struct {
	Summary Summary `json:"summary"`
	Images  []Row   `json:"images"`
}

// BuildStatus evaluates the saved state (prepared by Load as the leader
// prepares it: configured images added, sizes from the nodes) with the
// configured rules, as the leader would, and lays it over what the
// DaemonSet and the nodes show.
func BuildStatus(s *Snapshot) Status {
	ev := s.State.Evaluate(s.Now, s.Rules)
	pulled := map[string]bool{}
	for _, img := range s.Pulled {
		pulled[img] = true
	}
	eligible := s.Inventory.EligibleNodes()
	var st Status
	seen := map[string]bool{}
	for _, e := range s.State.Entries() {
		seen[e.Image] = true
		st.Images = append(st.Images, s.row(e, ev.Decisions[e.Image], pulled[e.Image], eligible))
	}
	// Images the DaemonSet pulls that the state does not know (a lost
	// state before the leader rebuilt it).
	for _, img := range s.Pulled {
		if !seen[img] {
			r := Row{Image: img, Source: "unknown", InDaemonSet: true, Eligible: eligible, Holders: s.Inventory.HolderCount(img)}
			r.State, r.Reason = placement(r.Holders, eligible)
			r.Reason = "not in the saved state; " + r.Reason
			r.Size, _ = s.Inventory.SizeOf(img)
			st.Images = append(st.Images, r)
		}
	}
	slices.SortFunc(st.Images, func(a, b Row) int {
		if a.InDaemonSet != b.InDaemonSet {
			if a.InDaemonSet {
				return -1
			}
			return 1
		}
		if a.Users != b.Users {
			return b.Users - a.Users
		}
		if a.Image < b.Image {
			return -1
		}
		return 1
	})
	st.Summary = s.summary(st.Images)
	return st
}

func (s *Snapshot) row(e *imageset.Entry, d imageset.Decision, inDS bool, eligible int) Row {
	r := Row{
		Image:       e.Image,
		Users:       e.RecentUsers(s.Now.Add(-s.Rules.TTL)),
		Running:     e.Running,
		Holders:     s.Inventory.HolderCount(e.Image),
		Eligible:    eligible,
		Source:      "learned",
		InDaemonSet: inDS,
		Size:        e.Size,
	}
	if size, ok := s.Inventory.SizeOf(e.Image); ok {
		r.Size = size
	}
	if e.Static {
		r.Source = "configured"
	}
	if !e.LastSeen.IsZero() {
		t := e.LastSeen.UTC()
		r.LastSeen = &t
	}
	left := e.LastSeen.Add(s.Rules.TTL).Sub(s.Now)
	switch {
	case d.State == imageset.StateQuarantined:
		r.State = StateQuarantined
		r.Reason = fmt.Sprintf("%s; retry at %s (attempt %d)", d.Reason, e.Quarantine.RetryAt.UTC().Format(time.RFC3339), e.Quarantine.Attempts)
	case d.State == imageset.StateExpired && inDS:
		r.State, r.Reason = StateExpiring, "leaves at the next DaemonSet write: "+d.Reason
	case d.State == imageset.StateExpired:
		r.State, r.Reason = StateExpired, d.Reason
	case inDS && !e.Static && e.Running == 0 && left < expiringWithin:
		r.State, r.Reason = StateExpiring, "expires in "+left.Round(time.Minute).String()+" unless a pod uses it"
	case inDS && d.State == imageset.StateActive:
		r.State, r.Reason = placement(r.Holders, eligible)
	case inDS:
		// Chosen out, still pulled until the next write.
		r.State, r.Reason = StateHeld, fmt.Sprintf("%s: %s; leaves at the next DaemonSet write", d.State, reasonOf(d))
	case d.State == imageset.StateActive:
		r.State, r.Reason = StateWaiting, "chosen, waits for the next DaemonSet write (write window or rollout)"
	default:
		r.State, r.Reason = StateHeld, fmt.Sprintf("%s: %s", d.State, reasonOf(d))
	}
	return r
}

func reasonOf(d imageset.Decision) string {
	if d.Reason != "" {
		return d.Reason
	}
	if d.Hold != "" {
		return "hold " + string(d.Hold)
	}
	return "not chosen"
}

func placement(holders, eligible int) (state, reason string) {
	if eligible > 0 && holders >= eligible {
		return StateEverywhere, fmt.Sprintf("on all %d eligible nodes", eligible)
	}
	return StatePlaced, fmt.Sprintf("on %d of %d eligible nodes", holders, eligible)
}

func (s *Snapshot) summary(rows []Row) Summary {
	sum := Summary{Images: len(s.Pulled), Eligible: s.Inventory.EligibleNodes(), Nodes: s.Inventory.Nodes()}
	for _, r := range rows {
		if r.InDaemonSet {
			sum.BytesPerNode += r.Size
		}
	}
	if t := s.LastWrite(); !t.IsZero() {
		t = t.UTC()
		sum.LastWrite = &t
	}
	sum.Leader, sum.Running = s.Leader()
	ns := s.Config.Namespace
	switch {
	case !s.Config.LeaderElection.Enabled:
		sum.Notes = append(sum.Notes, "leader election is off: whether prepuller runs is not published")
	case s.Lease == nil:
		sum.Notes = append(sum.Notes, fmt.Sprintf("prepuller is not running: no Lease %s/%s", ns, s.Config.LeaderElection.ID))
	case !sum.Running:
		sum.Notes = append(sum.Notes, fmt.Sprintf("prepuller is not running: Lease %s/%s is not renewed", ns, s.Config.LeaderElection.ID))
	}
	if !s.ConfigFound {
		sum.Notes = append(sum.Notes, fmt.Sprintf("no ConfigMap %s/%s: default settings assumed", ns, ConfigMapName))
	}
	if !s.StateFound {
		sum.Notes = append(sum.Notes, fmt.Sprintf("no state ConfigMap %s/%s", ns, s.Config.Puller.StateConfigMapName))
	}
	if s.DaemonSet == nil {
		sum.Notes = append(sum.Notes, fmt.Sprintf("no DaemonSet %s/%s", ns, s.Config.Puller.DaemonSetName))
	}
	return sum
}
