package imageset

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// seen is a compact sighting for tables: image used by user, ago before t0.
type seen struct {
	image string
	user  string
	ago   time.Duration
}

func build(sightings []seen) *Set {
	s := New()
	for i, sg := range sightings {
		s.Observe(Sighting{Image: sg.image, User: sg.user, Namespace: "hub", Pod: "jupyter-" + sg.user, Time: t0.Add(-sg.ago)})
		_ = i
	}
	return s
}

func activeImages(ev Evaluation) []string { return images(ev.Active) }

func rankedImages(ev Evaluation) []string { return images(ev.Ranked) }

func images(entries []*Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Image)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	day := 24 * time.Hour
	rules := Rules{TTL: 7 * day, MaxImages: 30, MinUsers: 1}
	cases := map[string]struct {
		sightings []seen
		running   map[string]int
		static    []string
		added     []string // in the DaemonSet since an hour before t0
		returning []string // were in the DaemonSet once, not now
		sizes     map[string]int64
		rules     func(*Rules)
		want      []string
		states    map[string]State
	}{
		"ranked by distinct users then recency then name": {
			sightings: []seen{
				{"a", "u1", time.Hour}, {"a", "u2", time.Hour},
				{"b", "u1", time.Minute},
				{"c", "u1", 2 * time.Minute}, {"c", "u2", day}, {"c", "u3", day},
				{"d", "u9", time.Minute},
			},
			want: []string{"c", "a", "b", "d"},
		},
		"the same user many times counts once": {
			sightings: []seen{{"a", "u1", 0}, {"a", "u1", time.Hour}, {"a", "u1", 2 * time.Hour}, {"b", "u1", time.Hour}, {"b", "u2", time.Hour}},
			want:      []string{"b", "a"},
		},
		"unused for the TTL expires": {
			sightings: []seen{{"old", "u1", 8 * day}, {"new", "u1", 6 * day}},
			want:      []string{"new"},
			states:    map[string]State{"old": StateExpired, "new": StateActive},
		},
		"a running pod keeps an old image": {
			sightings: []seen{{"old", "u1", 30 * day}},
			running:   map[string]int{"old": 1},
			want:      []string{"old"},
		},
		"users older than the TTL do not count": {
			sightings: []seen{{"a", "u1", 8 * day}, {"a", "u2", time.Hour}, {"b", "u1", 2 * time.Hour}, {"b", "u2", 2 * time.Hour}},
			want:      []string{"b", "a"},
		},
		"min users holds back rare images": {
			sightings: []seen{{"a", "u1", 0}, {"a", "u2", 0}, {"b", "u1", 0}},
			rules:     func(r *Rules) { r.MinUsers = 2 },
			want:      []string{"a"},
			states:    map[string]State{"a": StateActive, "b": StatePending},
		},
		"denied images are never pulled": {
			sightings: []seen{{"good", "u1", 0}, {"evil", "u1", 0}, {"evil", "u2", 0}},
			rules:     func(r *Rules) { r.Allowed = func(img string) bool { return img != "evil" } },
			want:      []string{"good"},
			states:    map[string]State{"good": StateActive, "evil": StateDenied},
		},
		"cap keeps the most valuable": {
			sightings: []seen{{"a", "u1", 0}, {"b", "u1", 0}, {"b", "u2", 0}, {"c", "u1", time.Hour}},
			rules:     func(r *Rules) { r.MaxImages = 2 },
			want:      []string{"b", "a"},
			states:    map[string]State{"a": StateActive, "b": StateActive, "c": StateExcluded},
		},
		"static images take places first and never expire": {
			sightings: []seen{{"a", "u1", 0}, {"b", "u1", 0}, {"s", "u1", 30 * day}},
			static:    []string{"s", "t"},
			rules:     func(r *Rules) { r.MaxImages = 3 },
			// a and b tie on users and time: name decides; static
			// images have no recent users and go last, the more
			// recently seen first.
			want:   []string{"a", "t", "s"},
			states: map[string]State{"a": StateActive, "b": StateExcluded, "s": StateActive, "t": StateActive},
		},
		"static images skip min users and policy": {
			static: []string{"s"},
			rules: func(r *Rules) {
				r.MinUsers = 5
				r.Allowed = func(string) bool { return false }
			},
			want: []string{"s"},
		},
		"byte budget skips what does not fit and keeps smaller ones": {
			sightings: []seen{{"big", "u1", 0}, {"big", "u2", 0}, {"huge", "u1", time.Minute}, {"small", "u1", time.Hour}, {"unknown", "u1", 2 * time.Hour}},
			sizes:     map[string]int64{"big": 600, "huge": 900, "small": 300},
			rules:     func(r *Rules) { r.NodeByteBudget = 1000 },
			want:      []string{"big", "small", "unknown"},
			states:    map[string]State{"big": StateActive, "huge": StateExcluded, "small": StateActive, "unknown": StateActive},
		},
		"one user's own images past maxImagesPerUser are held, most recent kept": {
			sightings: []seen{
				{"a", "u1", time.Minute}, {"b", "u1", 2 * time.Minute}, {"c", "u1", 3 * time.Minute},
				{"shared", "u1", time.Hour}, {"shared", "u2", time.Hour},
				{"d", "u2", time.Hour},
			},
			rules: func(r *Rules) {
				r.MaxImages = 4
				r.MaxImagesPerUser = 2
			},
			want:   []string{"shared", "a", "b", "d"},
			states: map[string]State{"a": StateActive, "b": StateActive, "c": StateHeld, "shared": StateActive, "d": StateActive},
		},
		"a newcomer of one user does not push out an image running pods use": {
			sightings: []seen{
				{"old1", "u1", time.Hour}, {"old2", "u2", time.Hour}, {"old3", "u3", 2 * time.Hour},
				{"new1", "x", 0}, {"new2", "x", 0}, {"new3", "x", 0},
			},
			added:   []string{"old1", "old2", "old3"},
			running: map[string]int{"old1": 1, "old3": 1, "new1": 1, "new2": 1, "new3": 1},
			rules:   func(r *Rules) { r.MaxImages = 3 },
			// Running images count every user they had and tie at
			// one: the newcomers, seen last, outrank old2 (stopped,
			// pushed out as before) but not old1 and old3 (running).
			want:   []string{"new1", "old1", "old3"},
			states: map[string]State{"new1": StateActive, "new2": StateHeld, "new3": StateHeld, "old1": StateActive, "old2": StateExcluded, "old3": StateActive},
		},
		"an image pulled before and dropped is a newcomer again": {
			sightings: []seen{{"z-inuse", "alice", 0}, {"a-mallory", "mallory", 0}},
			added:     []string{"z-inuse"},
			returning: []string{"a-mallory"},
			running:   map[string]int{"z-inuse": 1, "a-mallory": 1},
			rules:     func(r *Rules) { r.MaxImages = 1 },
			want:      []string{"z-inuse"},
			states:    map[string]State{"z-inuse": StateActive, "a-mallory": StateExcluded},
		},
		"a user's new images do not push out their own running ones": {
			// All running, all seen at this sync: a tie the pulled
			// images win, so the new ones are the user's extra share.
			sightings: []seen{{"m1", "u", 0}, {"m2", "u", 0}, {"a1", "u", 0}, {"a2", "u", 0}, {"other", "v", 0}},
			added:     []string{"m1", "m2", "other"},
			running:   map[string]int{"m1": 1, "m2": 1, "a1": 1, "a2": 1, "other": 1},
			rules: func(r *Rules) {
				r.MaxImages = 3
				r.MaxImagesPerUser = 2
			},
			want:   []string{"m1", "m2", "other"},
			states: map[string]State{"m1": StateActive, "m2": StateActive, "other": StateActive, "a1": StateHeld, "a2": StateHeld},
		},
		"a user's share may use places nobody else wants": {
			sightings: []seen{{"a", "u", 0}, {"b", "u", time.Minute}, {"c", "u", 2 * time.Minute}, {"d", "v", 3 * time.Minute}},
			rules: func(r *Rules) {
				r.MaxImages = 3
				r.MaxImagesPerUser = 1
			},
			// a is u's share; d is v's; b gets the place left, c none.
			want:   []string{"a", "b", "d"},
			states: map[string]State{"a": StateActive, "b": StateActive, "c": StateHeld, "d": StateActive},
		},
		"a newcomer with more users does push out an image in use": {
			sightings: []seen{{"old", "u1", time.Hour}, {"new", "x", 0}, {"new", "y", 0}},
			added:     []string{"old"},
			running:   map[string]int{"old": 1},
			rules:     func(r *Rules) { r.MaxImages = 1 },
			want:      []string{"new"},
			states:    map[string]State{"new": StateActive, "old": StateExcluded},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := build(tc.sightings)
			s.SetStatic(tc.static, t0)
			s.SetRunning(tc.running)
			for img, n := range tc.sizes {
				s.Get(img).Size = n
			}
			r := rules
			r.InDaemonSet = map[string]bool{}
			for _, img := range append(tc.added, tc.returning...) {
				at := t0.Add(-time.Hour)
				s.Get(img).AddedAt = &at
			}
			for _, img := range tc.added {
				r.InDaemonSet[img] = true
			}
			if tc.rules != nil {
				tc.rules(&r)
			}
			ev := s.Evaluate(t0, r)
			if diff := cmp.Diff(tc.want, rankedImages(ev)); diff != "" {
				t.Errorf("ranked images (-want +got):\n%s", diff)
			}
			if tc.states != nil {
				got := map[string]State{}
				for img, d := range ev.Decisions {
					got[img] = d.State
				}
				if diff := cmp.Diff(tc.states, got); diff != "" {
					t.Errorf("states (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestEvaluateIsStable(t *testing.T) {
	s := build([]seen{{"a", "u1", 0}, {"b", "u1", 0}, {"c", "u1", 0}, {"d", "u2", 0}})
	r := Rules{TTL: time.Hour, MaxImages: 10, MinUsers: 1}
	first := activeImages(s.Evaluate(t0, r))
	for i := 0; i < 20; i++ {
		if diff := cmp.Diff(first, activeImages(s.Evaluate(t0, r))); diff != "" {
			t.Fatalf("order changed between evaluations (-first +now):\n%s", diff)
		}
	}
}

// The pull order ignores the rank: images already in the DaemonSet keep
// their places, new ones are appended, and a re-rank of the same images
// does not move anything (it would roll every puller pod).
func TestPullOrderIsStable(t *testing.T) {
	r := Rules{TTL: time.Hour, MaxImages: 10, MinUsers: 1}
	at := func(d time.Duration) *time.Time { t := t0.Add(d); return &t }
	cases := map[string]struct {
		sightings []seen
		added     map[string]*time.Time
		want      []string
		ranked    []string
	}{
		"nothing added yet: by name": {
			sightings: []seen{{"b", "u1", 0}, {"b", "u2", 0}, {"a", "u1", time.Minute}, {"c", "u1", 0}},
			want:      []string{"a", "b", "c"},
			ranked:    []string{"b", "c", "a"},
		},
		"added keep their places, new ones go last": {
			sightings: []seen{{"new", "u1", 0}, {"new", "u2", 0}, {"new", "u3", 0}, {"old", "u1", time.Minute}, {"older", "u1", time.Minute}},
			added:     map[string]*time.Time{"older": at(-time.Hour), "old": at(-time.Minute)},
			want:      []string{"older", "old", "new"},
			ranked:    []string{"new", "old", "older"},
		},
		"added together: by name": {
			sightings: []seen{{"z", "u1", 0}, {"z", "u2", 0}, {"y", "u1", 0}},
			added:     map[string]*time.Time{"y": at(0), "z": at(0)},
			want:      []string{"y", "z"},
			ranked:    []string{"z", "y"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := build(tc.sightings)
			for img, a := range tc.added {
				s.Get(img).AddedAt = a
			}
			ev := s.Evaluate(t0, r)
			if diff := cmp.Diff(tc.want, activeImages(ev)); diff != "" {
				t.Errorf("pull order (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.ranked, rankedImages(ev)); diff != "" {
				t.Errorf("rank (-want +got):\n%s", diff)
			}
		})
	}
}

// A re-rank (the least used image becomes the most used) leaves the pull
// order alone.
func TestReRankKeepsPullOrder(t *testing.T) {
	s := build([]seen{{"a", "u1", 0}, {"a", "u2", 0}, {"b", "u1", 0}})
	r := Rules{TTL: time.Hour, MaxImages: 10, MinUsers: 1}
	ev := s.Evaluate(t0, r)
	for _, e := range ev.Active {
		added := t0
		e.AddedAt = &added
	}
	before := activeImages(ev)
	for _, u := range []string{"u3", "u4", "u5"} {
		s.Observe(Sighting{Image: "b", User: u, Time: t0})
	}
	ev = s.Evaluate(t0, r)
	if got := rankedImages(ev); got[0] != "b" {
		t.Fatalf("rank %v, want b first after its new users", got)
	}
	if diff := cmp.Diff(before, activeImages(ev)); diff != "" {
		t.Errorf("pull order changed with the rank (-before +after):\n%s", diff)
	}
}

// Recovered images keep the live DaemonSet's order.
func TestRecoverKeepsLiveOrder(t *testing.T) {
	s := New()
	s.Recover([]string{"z", "a", "m"}, nil, t0)
	ev := s.Evaluate(t0, Rules{TTL: time.Hour, MaxImages: 10, MinUsers: 1})
	if diff := cmp.Diff([]string{"z", "a", "m"}, activeImages(ev)); diff != "" {
		t.Errorf("pull order (-want +got):\n%s", diff)
	}
}

// A set rebuilt from the DaemonSet's tallies ranks as the lost one did: a
// newcomer one running pod uses does not push out images many users used,
// and the tallies fade with the TTL like the users they count.
func TestRecoverRanksByTallies(t *testing.T) {
	r := Rules{TTL: 24 * time.Hour, MaxImages: 2, MinUsers: 1}
	cases := map[string]struct {
		tallies map[string]Tally
		at      time.Time
		want    []string
	}{
		"tallies keep the places": {
			tallies: map[string]Tally{"a": {Users: 10, LastSeen: t0.Add(-time.Hour)}, "b": {Users: 3, LastSeen: t0.Add(-2 * time.Hour)}},
			at:      t0,
			want:    []string{"a", "b"},
		},
		"without tallies each counts one user, last seen at recovery": {
			at:   t0.Add(time.Minute),
			want: []string{"new", "a"},
		},
		"images last used a TTL ago expire, tallies and all": {
			tallies: map[string]Tally{"a": {Users: 10, LastSeen: t0.Add(-time.Hour)}, "b": {Users: 3, LastSeen: t0.Add(-2 * time.Hour)}},
			at:      t0.Add(23*time.Hour + 30*time.Minute),
			want:    []string{"new"},
		},
		"a tally from the future counts as of now": {
			tallies: map[string]Tally{"a": {Users: 10, LastSeen: t0.Add(time.Hour)}},
			at:      t0.Add(time.Minute),
			want:    []string{"a", "new"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := New()
			s.Recover([]string{"a", "b"}, tc.tallies, t0)
			s.Observe(Sighting{Image: "new", User: "x", Namespace: "hub", Pod: "jupyter-x", Time: tc.at})
			s.SetRunning(map[string]int{"new": 1})
			ev := s.Evaluate(tc.at, r)
			if diff := cmp.Diff(tc.want, rankedImages(ev)); diff != "" {
				t.Errorf("ranked (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuarantineBackoff(t *testing.T) {
	b := Backoff{Grace: 5 * time.Minute, Initial: 10 * time.Minute, Max: 35 * time.Minute}
	s := build([]seen{{"bad", "u1", 0}})
	r := Rules{TTL: 24 * time.Hour, MaxImages: 10, MinUsers: 1}
	now := t0
	if s.MarkFailing("bad", now, b, "ImagePullBackOff on 2 node(s)") {
		t.Fatal("quarantined before the grace period")
	}
	now = now.Add(4 * time.Minute)
	if s.MarkFailing("bad", now, b, "x") {
		t.Fatal("quarantined before the grace period")
	}
	// A recovery restarts the grace period.
	s.MarkNotFailing("bad")
	now = now.Add(2 * time.Minute)
	if s.MarkFailing("bad", now, b, "x") {
		t.Fatal("quarantined although the failure clock was reset")
	}
	var waits []time.Duration
	for attempt := 1; attempt <= 4; attempt++ {
		now = now.Add(5 * time.Minute)
		if !s.MarkFailing("bad", now, b, "ImagePullBackOff") {
			t.Fatalf("attempt %d: not quarantined after the grace period", attempt)
		}
		e := s.Get("bad")
		if got := s.Evaluate(now, r).Decisions["bad"].State; got != StateQuarantined {
			t.Fatalf("attempt %d: state %q, want quarantined", attempt, got)
		}
		if e.Quarantine.Attempts != attempt {
			t.Fatalf("attempts = %d, want %d", e.Quarantine.Attempts, attempt)
		}
		waits = append(waits, e.Quarantine.RetryAt.Sub(now))
		now = e.Quarantine.RetryAt
		if got := s.Evaluate(now, r).Decisions["bad"].State; got != StateActive {
			t.Fatalf("attempt %d: state at retry time %q, want active", attempt, got)
		}
		s.MarkFailing("bad", now, b, "x") // failing again after the retry
	}
	if diff := cmp.Diff([]time.Duration{10 * time.Minute, 20 * time.Minute, 35 * time.Minute, 35 * time.Minute}, waits); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
	// A successful pull after the retry forgives the past.
	s.MarkPulled("bad", now)
	if s.Get("bad").Quarantine != nil {
		t.Error("quarantine record kept after a successful pull")
	}
}

func TestPruneForgetsLongExpiredOnly(t *testing.T) {
	ttl := 24 * time.Hour
	s := build([]seen{{"gone", "u1", 49 * time.Hour}, {"expired", "u1", 30 * time.Hour}, {"fresh", "u1", 0}})
	s.SetStatic([]string{"static"}, t0.Add(-100*time.Hour))
	got := s.Prune(t0, ttl)
	if diff := cmp.Diff([]string{"gone"}, got); diff != "" {
		t.Errorf("pruned (-want +got):\n%s", diff)
	}
	var left []string
	for _, e := range s.Entries() {
		left = append(left, e.Image)
	}
	if diff := cmp.Diff([]string{"expired", "fresh", "static"}, left); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
}

func TestObserveBoundsAndSecrets(t *testing.T) {
	s := New()
	for i := 0; i < 3*maxUsers; i++ {
		u := "user-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		s.Observe(Sighting{Image: "img", User: u, Namespace: "hub", Pod: "jupyter-" + u, Time: t0.Add(time.Duration(i) * time.Second), PullSecrets: []string{"s2", "s1", "s1"}})
	}
	s.Observe(Sighting{Image: "img", User: "x", Namespace: "other", Pod: "p", Time: t0, PullSecrets: []string{"o"}})
	e := s.Get("img")
	if len(e.Users) != maxUsers || len(e.RecentPods) != maxPods {
		t.Errorf("kept %d users and %d recent pods, want at most %d and %d", len(e.Users), len(e.RecentPods), maxUsers, maxPods)
	}
	if e.Pods != 3*maxUsers+1 {
		t.Errorf("distinct pods = %d, want %d", e.Pods, 3*maxUsers+1)
	}
	if diff := cmp.Diff(map[string][]string{"hub": {"s1", "s2"}, "other": {"o"}}, e.PullSecrets); diff != "" {
		t.Errorf("pull secrets (-want +got):\n%s", diff)
	}
	if !e.FirstSeen.Equal(t0) || !e.LastSeen.Equal(t0.Add(time.Duration(3*maxUsers-1)*time.Second)) {
		t.Errorf("first/last seen = %v/%v", e.FirstSeen, e.LastSeen)
	}
}

func TestPullPolicyFollowsLatestSighting(t *testing.T) {
	s := New()
	s.Observe(Sighting{Image: "i", Pod: "a", Time: t0, PullPolicy: "Always"})
	if !s.Get("i").PullAlways {
		t.Fatal("Always not recorded")
	}
	s.Observe(Sighting{Image: "i", Pod: "b", Time: t0.Add(time.Second), PullPolicy: "IfNotPresent"})
	s.Observe(Sighting{Image: "i", Pod: "c", Time: t0.Add(-time.Hour), PullPolicy: "Always"}) // older: ignored
	if s.Get("i").PullAlways {
		t.Fatal("policy did not follow the latest sighting")
	}
}

// A recovered floor edited by hand counts at most maxUsers, and not at all
// when dated after now.
func TestRecoveredFloorFromStateIsBounded(t *testing.T) {
	data := `{"version":1,"images":[` +
		`{"image":"future","firstSeen":"2026-01-01T11:00:00Z","lastSeen":"2026-01-01T11:00:00Z","recovered":true,"recoveredUsers":50,"recoveredSeen":"2026-01-02T12:00:00Z"},` +
		`{"image":"huge","firstSeen":"2026-01-01T11:00:00Z","lastSeen":"2026-01-01T11:00:00Z","recovered":true,"recoveredUsers":100000,"recoveredSeen":"2026-01-01T11:00:00Z"}]}`
	s, err := Decode([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Get("huge").RecoveredUsers; got != maxUsers {
		t.Errorf("recoveredUsers %d, want clamped to %d", got, maxUsers)
	}
	since := t0.Add(-24 * time.Hour)
	if got := s.Get("future").activeUsers(since, t0); got != 0 {
		t.Errorf("a floor dated after now counts %d users, want 0", got)
	}
}
