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
	// StateHeld images are held out so that no one user or pod takes over
	// the pulled set (see Hold).
	StateHeld State = "held"
)

// States lists every state, for metrics.
var States = []State{StateActive, StateExpired, StateQuarantined, StateDenied, StatePending, StateExcluded, StateHeld}

// Hold names the rule that held an image (StateHeld).
type Hold string

const (
	// HoldUserShare: the image's only user already has
	// Rules.MaxImagesPerUser images only they use, each ranked higher.
	HoldUserShare Hold = "user_share"
	// HoldInUse: pulling it would push out an image in the DaemonSet that
	// running pods use, and only one user has used it.
	HoldInUse Hold = "in_use"
)

// Holds lists every hold, for metrics.
var Holds = []Hold{HoldUserShare, HoldInUse}

// Rules decide which learned images are pulled.
type Rules struct {
	TTL            time.Duration
	MaxImages      int
	NodeByteBudget int64 // zero: no budget
	MinUsers       int
	// MaxImagesPerUser bounds the images whose only user is one user
	// that take places other images want; zero: no bound.
	MaxImagesPerUser int
	// InDaemonSet says which images the live DaemonSet pulls now: they
	// win ties, and those running pods use are not pushed out by images
	// only one user has used. Nil: none.
	InDaemonSet map[string]bool
	// Allowed applies the allow/deny patterns; nil allows all. Static
	// images are not subject to it: an operator listed them on purpose.
	Allowed func(image string) bool
}

// Decision is the outcome for one image.
type Decision struct {
	State  State
	Reason string
	Hold   Hold // set for StateHeld
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
	// Users is the number of distinct users each active image ranked
	// with.
	Users map[string]int
}

// Evaluate ranks the set at now and picks the images to pull.
//
// Ranking is by distinct users within the TTL, then by last use, then
// static before learned, then by image name. The rank decides only which
// images are pulled: static images always win a place (MaxImages and the
// budget count them first), then learned images fill the remaining places
// in rank order. Two rules keep one user or pod from taking the set over:
// an image only one user has used is held past that user's
// MaxImagesPerUser such images (it gets a place only if one is left when
// every other image has had its turn), and it never pushes out an image in
// the DaemonSet that running pods use. The pull order is Active's (see
// pullsBefore).
func (s *Set) Evaluate(now time.Time, r Rules) Evaluation {
	ev := Evaluation{Decisions: map[string]Decision{}}
	since := now.Add(-r.TTL)
	var candidates []*Entry
	for _, e := range s.entries {
		switch {
		case e.Quarantined(now):
			ev.Decisions[e.Image] = Decision{State: StateQuarantined, Reason: e.Quarantine.Reason}
		case e.Static:
			candidates = append(candidates, e)
		case r.Allowed != nil && !r.Allowed(e.Image):
			ev.Decisions[e.Image] = Decision{State: StateDenied, Reason: "refused by puller.allow/puller.deny"}
		case e.Running == 0 && e.LastSeen.Before(since):
			ev.Decisions[e.Image] = Decision{State: StateExpired, Reason: fmt.Sprintf("no pod used it since %s", e.LastSeen.UTC().Format(time.RFC3339))}
		case !e.Recovered && e.activeUsers(since, now) < r.MinUsers:
			ev.Decisions[e.Image] = Decision{State: StatePending, Reason: fmt.Sprintf("%d of %d distinct users needed", e.activeUsers(since, now), r.MinUsers)}
		default:
			candidates = append(candidates, e)
		}
	}
	// Count users once per entry, not once per comparison.
	users := make(map[*Entry]int, len(candidates))
	for _, e := range candidates {
		users[e] = e.activeUsers(since, now)
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
		// Running pods are all seen at every sync, so their images tie
		// often: the one already pulled keeps its place (no rollout).
		if inA, inB := r.InDaemonSet[a.Image], r.InDaemonSet[b.Image]; inA != inB {
			return inA
		}
		return a.Image < b.Image
	}
	sort.Slice(candidates, func(i, j int) bool { return better(candidates[i], candidates[j]) })
	candidates, held := holdUserShare(candidates, since, now, r.MaxImagesPerUser, ev.Decisions)

	p := picker{rules: r, decisions: ev.Decisions}
	// Static images claim their places first, in rank order.
	for _, e := range candidates {
		if e.Static {
			p.take(e)
		}
	}
	for _, e := range candidates {
		if !e.Static {
			p.take(e)
		}
	}
	p.keepInUse(candidates, users)
	// What a user's share held back may still use places nobody else
	// wants.
	for _, e := range held {
		if len(p.picked) < r.MaxImages && p.fits(e.Size, 0) {
			p.take(e)
		}
	}
	// Ranked in rank order, whichever pass picked them.
	picked := p.picked
	sort.SliceStable(picked, func(i, j int) bool { return better(picked[i], picked[j]) })
	ev.Ranked = picked
	ev.Users = make(map[string]int, len(picked))
	for _, e := range picked {
		ev.Users[e.Image] = users[e]
	}
	ev.Active = append([]*Entry(nil), picked...)
	sort.Slice(ev.Active, func(i, j int) bool { return pullsBefore(ev.Active[i], ev.Active[j]) })
	return ev
}

// picker fills the places (MaxImages, the byte budget) in the order it is
// offered images.
type picker struct {
	rules     Rules
	decisions map[string]Decision
	picked    []*Entry
	bytes     int64
}

func (p *picker) fits(add, remove int64) bool {
	return p.rules.NodeByteBudget <= 0 || p.bytes-remove+add <= p.rules.NodeByteBudget
}

func (p *picker) take(e *Entry) {
	if len(p.picked) >= p.rules.MaxImages {
		p.decisions[e.Image] = Decision{State: StateExcluded, Reason: fmt.Sprintf("puller.maxImages (%d) reached by more used images", p.rules.MaxImages)}
		return
	}
	if !p.fits(e.Size, 0) {
		p.decisions[e.Image] = Decision{State: StateExcluded, Reason: fmt.Sprintf("%d bytes would exceed puller.nodeByteBudget (%d)", e.Size, p.rules.NodeByteBudget)}
		return
	}
	p.picked = append(p.picked, e)
	p.bytes += e.Size
	p.decisions[e.Image] = Decision{State: StateActive}
}

// keepInUse gives the places of newcomers only one user has used back to
// the images in the DaemonSet that running pods use, which they pushed
// out: a pod naming many images must not evict what other users run. The
// lowest ranked newcomer goes first. candidates are in rank order.
func (p *picker) keepInUse(candidates []*Entry, users map[*Entry]int) {
	pulled := p.rules.InDaemonSet
	for _, in := range candidates {
		if in.Static || !pulled[in.Image] || in.Running == 0 || p.decisions[in.Image].State != StateExcluded {
			continue
		}
		for i := len(p.picked) - 1; i >= 0; i-- {
			out := p.picked[i]
			if out.Static || pulled[out.Image] || users[out] > 1 || !p.fits(in.Size, out.Size) {
				continue
			}
			p.picked = append(p.picked[:i], p.picked[i+1:]...)
			p.picked = append(p.picked, in)
			p.bytes += in.Size - out.Size
			p.decisions[in.Image] = Decision{State: StateActive}
			p.decisions[out.Image] = Decision{State: StateHeld, Hold: HoldInUse,
				Reason: fmt.Sprintf("only one user has used it, and pulling it would push out %s, in use by %d running pods", in.Image, in.Running)}
			break
		}
	}
}

// holdUserShare holds, for each user, the images only that user has used
// past the limit most valuable ones. It returns the other candidates and
// the held ones, each in their order (candidates are in rank order).
func holdUserShare(candidates []*Entry, since, now time.Time, limit int, decisions map[string]Decision) (kept, held []*Entry) {
	if limit <= 0 {
		return candidates, nil
	}
	count := map[string]int{}
	kept = candidates[:0:0]
	for _, e := range candidates {
		user, ok := e.soleUser(since, now)
		if !ok {
			kept = append(kept, e)
			continue
		}
		if count[user] >= limit {
			decisions[e.Image] = Decision{State: StateHeld, Hold: HoldUserShare,
				Reason: fmt.Sprintf("user %q alone uses %d more valuable images (puller.maxImagesPerUser)", user, limit)}
			held = append(held, e)
			continue
		}
		count[user]++
		kept = append(kept, e)
	}
	return kept, held
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
// every sync, so this matters only for state restored from long ago. A
// recovered image counts at least the users the DaemonSet recorded, until
// that record is older than the cutoff (a record dated after now, from a
// hand edit, never counts).
func (e *Entry) activeUsers(since, now time.Time) int {
	n := len(e.Users)
	if e.Running == 0 {
		n = e.RecentUsers(since)
	}
	if e.recoveredFloor(since, now) {
		n = max(n, e.RecoveredUsers)
	}
	return n
}

func (e *Entry) recoveredFloor(since, now time.Time) bool {
	return e.RecoveredUsers > 0 && !e.RecoveredSeen.Before(since) && !e.RecoveredSeen.After(now)
}

// soleUser returns the one user who used a learned image since the cutoff
// (as activeUsers counts them), if exactly one did.
func (e *Entry) soleUser(since, now time.Time) (string, bool) {
	if e.Static || e.activeUsers(since, now) != 1 || e.recoveredFloor(since, now) {
		return "", false
	}
	for u, t := range e.Users {
		if e.Running > 0 || !t.Before(since) {
			return u, true
		}
	}
	return "", false
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
