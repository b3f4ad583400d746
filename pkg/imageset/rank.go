package imageset

import (
	"fmt"
	"sort"
	"time"
)

// State is what the puller does with an image.
type State string

const (
	// StateActive images are in the DaemonSet.
	StateActive State = "active"
	// StateExpired images were not used by any pod for the TTL.
	StateExpired State = "expired"
	// StateQuarantined images failed to pull and wait for a retry.
	StateQuarantined State = "quarantined"
	// StateDenied images are refused by the allow/deny patterns.
	StateDenied State = "denied"
	// StatePending images have fewer distinct users than MinUsers.
	StatePending State = "pending"
	// StateExcluded images lost to more valuable ones (MaxImages or the
	// node byte budget).
	StateExcluded State = "excluded"
)

// States lists every state, for metrics.
var States = []State{StateActive, StateExpired, StateQuarantined, StateDenied, StatePending, StateExcluded}

// Rules decide which learned images are pulled.
type Rules struct {
	TTL            time.Duration
	MaxImages      int
	NodeByteBudget int64 // zero: no budget
	MinUsers       int
	// Allowed applies the allow/deny patterns; nil allows all. Static
	// images are not subject to it: an operator listed them on purpose.
	Allowed func(image string) bool
}

// Decision is the outcome for one image.
type Decision struct {
	State  State
	Reason string
}

// Evaluation is the result of Evaluate.
type Evaluation struct {
	// Active are the images to pull in the order of the DaemonSet's init
	// containers: images already added keep their place (by AddedAt, then
	// name) and images not yet added come last (by name). The order never
	// follows the rank: a pod template change rolls every puller pod, so a
	// re-rank of the same images must render the same DaemonSet.
	Active []*Entry
	// Ranked are the same images, most valuable first.
	Ranked    []*Entry
	Decisions map[string]Decision
}

// Evaluate ranks the set at now and picks the images to pull.
//
// Ranking is by distinct users within the TTL, then by last use, then
// static before learned, then by image name. The rank decides only which
// images are pulled: static images always win a place (MaxImages and the
// budget count them first), then learned images fill the remaining places
// in rank order. The pull order is Active's (see pullsBefore).
func (s *Set) Evaluate(now time.Time, r Rules) Evaluation {
	ev := Evaluation{Decisions: map[string]Decision{}}
	since := now.Add(-r.TTL)
	var candidates []*Entry
	for _, e := range s.entries {
		switch {
		case e.Quarantined(now):
			ev.Decisions[e.Image] = Decision{StateQuarantined, e.Quarantine.Reason}
		case e.Static:
			candidates = append(candidates, e)
		case r.Allowed != nil && !r.Allowed(e.Image):
			ev.Decisions[e.Image] = Decision{StateDenied, "refused by puller.allow/puller.deny"}
		case e.Running == 0 && e.LastSeen.Before(since):
			ev.Decisions[e.Image] = Decision{StateExpired, fmt.Sprintf("no pod used it since %s", e.LastSeen.UTC().Format(time.RFC3339))}
		case !e.Recovered && e.activeUsers(since) < r.MinUsers:
			ev.Decisions[e.Image] = Decision{StatePending, fmt.Sprintf("%d of %d distinct users needed", e.activeUsers(since), r.MinUsers)}
		default:
			candidates = append(candidates, e)
		}
	}
	// Count users once per entry, not once per comparison.
	users := make(map[*Entry]int, len(candidates))
	for _, e := range candidates {
		users[e] = e.activeUsers(since)
	}
	better := func(a, b *Entry) bool {
		if users[a] != users[b] {
			return users[a] > users[b]
		}
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.After(b.LastSeen)
		}
		if a.Static != b.Static {
			return a.Static
		}
		return a.Image < b.Image
	}
	sort.Slice(candidates, func(i, j int) bool { return better(candidates[i], candidates[j]) })

	// Static images claim their places first, in rank order.
	var picked []*Entry
	var bytes int64
	take := func(e *Entry) bool {
		if len(picked) >= r.MaxImages {
			ev.Decisions[e.Image] = Decision{StateExcluded, fmt.Sprintf("puller.maxImages (%d) reached by more used images", r.MaxImages)}
			return false
		}
		if r.NodeByteBudget > 0 && bytes+e.Size > r.NodeByteBudget {
			ev.Decisions[e.Image] = Decision{StateExcluded, fmt.Sprintf("%d bytes would exceed puller.nodeByteBudget (%d)", e.Size, r.NodeByteBudget)}
			return false
		}
		picked = append(picked, e)
		bytes += e.Size
		ev.Decisions[e.Image] = Decision{State: StateActive}
		return true
	}
	for _, e := range candidates {
		if e.Static {
			take(e)
		}
	}
	for _, e := range candidates {
		if !e.Static {
			take(e)
		}
	}
	// Ranked in rank order, whichever pass picked them.
	sort.SliceStable(picked, func(i, j int) bool { return better(picked[i], picked[j]) })
	ev.Ranked = picked
	ev.Active = append([]*Entry(nil), picked...)
	sort.Slice(ev.Active, func(i, j int) bool { return pullsBefore(ev.Active[i], ev.Active[j]) })
	return ev
}

// pullsBefore is the stable pull order: by the time an image went into the
// DaemonSet, images not yet in it last, ties by name. Two images' relative
// order never changes while both stay in, so only adding or removing an
// image changes the pod template.
func pullsBefore(a, b *Entry) bool {
	switch {
	case a.AddedAt == nil && b.AddedAt == nil:
	case a.AddedAt == nil:
		return false
	case b.AddedAt == nil:
		return true
	case !a.AddedAt.Equal(*b.AddedAt):
		return a.AddedAt.Before(*b.AddedAt)
	}
	return a.Image < b.Image
}

// activeUsers counts users seen since the cutoff. While pods still run the
// image, every user known counts: the controller re-sees running pods at
// every sync, so this matters only for state restored from long ago.
func (e *Entry) activeUsers(since time.Time) int {
	if e.Running > 0 {
		return len(e.Users)
	}
	return e.RecentUsers(since)
}

// Count returns how many images are in each state.
func (ev Evaluation) Count() map[State]int {
	out := map[State]int{}
	for _, st := range States {
		out[st] = 0
	}
	for _, d := range ev.Decisions {
		out[d.State]++
	}
	return out
}
