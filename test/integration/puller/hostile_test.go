package puller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/puller"
	"prepuller.dev/prepuller/puller/render"
)

// One user's pod naming many images cannot push out the images other
// users run: it contributes at most puller.maxImagesPerPod images, one
// user's own images are held past puller.maxImagesPerUser, and the rest
// lose the tie with the images already pulled (all are running, seen at
// the same sync, one user each). Each refusal is counted and reported in
// an Event.
func TestOnePodCannotTakeOverTheSet(t *testing.T) {
	e := newEnv(t)
	e.opts.MaxImages = 4
	e.start(startOpts{})
	var running []string
	for i := 1; i <= 4; i++ {
		img := fmt.Sprintf("docker.io/org/run-%d:1", i)
		e.userPod(fmt.Sprintf("jupyter-u%d", i), fmt.Sprintf("u%d", i), img)
		running = append(running, img)
	}
	ds := e.waitImageSet(norm(t, running...))

	// 20 images whose names rank first among ties (one user each, seen
	// at the same sync): without the bounds they would take every place.
	var flood []string
	for i := 0; i < 20; i++ {
		flood = append(flood, fmt.Sprintf("docker.io/aaa/flood-%02d:1", i))
	}
	e.userPod("jupyter-mallory", "mallory", flood...)
	e.waitPodEvent("jupyter-mallory", puller.ReasonPodImagesLimited, "learns the first 16")
	e.waitEvent(puller.ReasonImagesHeld, "past puller.maxImagesPerUser")
	e.waitSyncs(3)

	got, err := e.daemonSet()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pulled(ds), pulled(got)); diff != "" {
		t.Errorf("DaemonSet images changed (-before +after):\n%s", diff)
	}
	if got.Generation != ds.Generation {
		t.Errorf("DaemonSet generation %d -> %d", ds.Generation, got.Generation)
	}
	for reason, want := range map[string]float64{"pod_limit": 4, "user_share": 8} {
		if n := e.counter("prepuller_puller_images_refused_total", map[string]string{"reason": reason}); n != want {
			t.Errorf("refused{reason=%q} = %v, want %v", reason, n, want)
		}
	}
	s, _, err := e.state()
	if err != nil {
		t.Fatal(err)
	}
	// Held, not dropped: the learned images are all in the state.
	for _, img := range norm(t, flood[:16]...) {
		if s.Get(img) == nil {
			t.Errorf("state lacks learned image %s", img)
		}
	}
	for _, img := range norm(t, flood[16:]...) {
		if s.Get(img) != nil {
			t.Errorf("state holds %s, past the pod's limit", img)
		}
	}
}

// A lost or corrupt state with maxImages full rebuilds from what the
// cluster shows (the DaemonSet's images, order and tallies, the running
// pods) and writes nothing: images many users used minutes ago keep their
// places against the one image a running pod uses.
func TestLostStateWithFullCapWritesNothing(t *testing.T) {
	for name, lose := range map[string]func(e *env, cm *corev1.ConfigMap){
		"deleted": func(e *env, cm *corev1.ConfigMap) {
			if err := k8s.Delete(e.ctx, cm); err != nil {
				e.t.Fatal(err)
			}
		},
		"corrupt": func(e *env, cm *corev1.ConfigMap) {
			cm.Data[puller.StateKey] = "garbage"
			if err := k8s.Update(e.ctx, cm); err != nil {
				e.t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.opts.MaxImages = 3
			popular := norm(t, "docker.io/org/a:1", "docker.io/org/b:1", "docker.io/org/c:1")
			// Two users each, seen together at the first sync.
			for i, img := range popular {
				for _, u := range []string{"x", "y"} {
					e.userPod(fmt.Sprintf("jupyter-%s-%d", u, i), u, img)
				}
			}
			first := e.start(startOpts{})
			e.waitImageSet(popular)
			eventually(t, 30*time.Second, func() (bool, string) {
				ds, err := e.daemonSet()
				if err != nil {
					return false, err.Error()
				}
				tl, err := render.Tallies(ds)
				if err != nil {
					return false, err.Error()
				}
				for _, img := range popular {
					if tl[img].Users != 2 {
						return false, fmt.Sprintf("tallies %v", tl)
					}
				}
				return true, ""
			})
			// The users leave; one user runs an image of their own.
			for i := range popular {
				for _, u := range []string{"x", "y"} {
					e.deletePod(fmt.Sprintf("jupyter-%s-%d", u, i))
				}
			}
			e.userPod("jupyter-z", "z", "docker.io/org/d:1")
			e.waitSyncs(3)
			first.stop()
			ds, err := e.daemonSet()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(popular, sortedByName(pulled(ds))); diff != "" {
				t.Fatalf("before the loss (-want +got):\n%s", diff)
			}
			_, cm, err := e.state()
			if err != nil {
				t.Fatal(err)
			}
			lose(e, cm)

			updates := e.counter("prepuller_puller_daemonset_writes_total", map[string]string{"op": "update"})
			e.start(startOpts{})
			eventually(t, 30*time.Second, func() (bool, string) {
				s, _, err := e.state()
				if err != nil {
					return false, err.Error()
				}
				return s.Get("docker.io/org/d:1") != nil, "rebuilt state lacks the running pod's image"
			})
			e.waitSyncs(3)
			got, err := e.daemonSet()
			if err != nil {
				t.Fatal(err)
			}
			if got.Generation != ds.Generation {
				t.Errorf("DaemonSet generation %d -> %d after the rebuild; pulls %v", ds.Generation, got.Generation, pulled(got))
			}
			if n := e.counter("prepuller_puller_daemonset_writes_total", map[string]string{"op": "update"}) - updates; n != 0 {
				t.Errorf("%v DaemonSet updates after the rebuild, want 0", n)
			}
			s, _, err := e.state()
			if err != nil {
				t.Fatalf("reading the rebuilt state: %v", err)
			}
			if d := s.Get("docker.io/org/a:1"); d == nil || !d.Recovered || d.RecoveredUsers != 2 {
				t.Errorf("rebuilt entry for a: %+v, want recovered with 2 users", d)
			}
		})
	}
}

// waitPodEvent waits for an Event with reason on a pod in the user
// namespace whose note contains contains.
func (e *env) waitPodEvent(pod, reason, contains string) {
	e.t.Helper()
	eventually(e.t, 30*time.Second, func() (bool, string) {
		var list eventsv1.EventList
		if err := k8s.List(e.ctx, &list, client.InNamespace(e.userNS)); err != nil {
			return false, err.Error()
		}
		var notes []string
		for _, ev := range list.Items {
			if ev.Reason == reason && ev.Regarding.Name == pod {
				if strings.Contains(ev.Note, contains) {
					return true, ""
				}
				notes = append(notes, ev.Note)
			}
		}
		return false, fmt.Sprintf("no %s event on pod %s mentioning %q in %q", reason, pod, contains, notes)
	})
}

// The tallies follow the users between DaemonSet writes: a new user of an
// image already pulled changes no pod template, and the tallies alone are
// written once talliesInterval (5 minutes) has passed, without a rollout.
func TestTalliesFollowUsers(t *testing.T) {
	e := newEnv(t)
	clk := &shiftedClock{}
	e.start(startOpts{clock: clk})
	img := norm(t, "docker.io/org/a:1")[0]
	e.userPod("jupyter-x", "x", img)
	ds := e.waitImages([]string{img})
	users := func() (int, string) {
		got, err := e.daemonSet()
		if err != nil {
			return 0, err.Error()
		}
		tl, err := render.Tallies(got)
		if err != nil {
			return 0, err.Error()
		}
		return tl[img].Users, fmt.Sprintf("tallies %v", tl)
	}
	eventually(t, 30*time.Second, func() (bool, string) { n, msg := users(); return n == 1, msg })

	e.userPod("jupyter-y", "y", img)
	e.waitSyncs(3)
	if n, msg := users(); n != 1 {
		t.Fatalf("tallies written before 5 minutes passed: %s", msg)
	}
	clk.Skip(6 * time.Minute)
	eventually(t, 30*time.Second, func() (bool, string) { n, msg := users(); return n == 2, msg })
	got, err := e.daemonSet()
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != ds.Generation {
		t.Errorf("generation %d -> %d: writing the tallies changed the pod template", ds.Generation, got.Generation)
	}
	if n := e.counter("prepuller_puller_daemonset_writes_total", map[string]string{"op": "tallies"}); n != 1 {
		t.Errorf("%v tallies writes, want 1", n)
	}
}
