package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"prepuller.dev/prepuller/test/builder"
)

// Spawner shape: KubeSpawner creates one pod per user server; a user who
// starts again gets a new pod after the old one is gone. Users pick images
// with a Zipf law (a few images most users run, a long tail).
const (
	users      = 100
	imageCount = 20
	spawnRate  = 10 // creates per second
	zipfS      = 1.2
	hubNS      = "jhub"
)

func imageName(i int) string { return fmt.Sprintf("quay.io/hub/notebook-%02d:2026.12", i) }

type create struct {
	at      time.Time
	latency time.Duration
	err     error
	arm     string // the pod's loadArmLabel; "" when the spawner does not split
}

// loadArmLabel sends a pod to one of two webhooks when the spawner splits
// its stream (BenchmarkLoadHeld): "noop" or "prepuller".
const loadArmLabel = "faults.prepuller.dev/arm"

// spawner creates user pods at a fixed rate until its context ends.
type spawner struct {
	cs    *kubernetes.Clientset
	users int
	seed  uint64

	// split: the pods go to the no-op webhook and to prepuller
	// (loadArmLabel) in pairs, one each in a random order, so both arms
	// get the same share of every moment.
	split bool
	first int // the arm of the current pair's first pod

	userMu  []sync.Mutex // one server per user: a user's spawns run in order
	current []string     // user -> pod name, across runs
	seq     int

	mu      sync.Mutex
	creates []create
}

func newSpawner(cs *kubernetes.Clientset, users int, seed uint64) *spawner {
	return &spawner{cs: cs, users: users, seed: seed, userMu: make([]sync.Mutex, users), current: make([]string, users)}
}

// maxInFlight bounds the creates waiting on the API server at once; past
// it a tick waits, and the missed rate shows as fewer attempts.
const maxInFlight = 64

// run creates pods open loop: a create starts every tick whatever earlier
// ones still wait for, as users keep arriving while admission is slow.
// Runs of one spawner follow each other (each returns once its creates
// ended); its users' pods carry over from one run to the next.
func (s *spawner) run(ctx context.Context, rate int) {
	s.seed++
	rng := rand.New(rand.NewPCG(14, s.seed))
	zipf := rand.NewZipf(rng, zipfS, 1, imageCount-1)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var (
		wg       sync.WaitGroup
		inFlight = make(chan struct{}, maxInFlight)
	)
	defer wg.Wait()
	for ; ; s.seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		u, image, seq := rng.IntN(s.users), imageName(int(zipf.Uint64())), s.seq
		arm := ""
		if s.split {
			if s.seq%2 == 0 {
				s.first = rng.IntN(2)
			}
			arm = [...]string{"noop", "prepuller"}[(s.first+s.seq%2)%2]
		}
		select {
		case <-ctx.Done():
			return
		case inFlight <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			s.userMu[u].Lock()
			defer s.userMu[u].Unlock()
			if old := s.current[u]; old != "" {
				// Not timed: the stop of a server is not what the webhook sees.
				_ = s.cs.CoreV1().Pods(hubNS).Delete(ctx, old, metav1.DeleteOptions{})
			}
			user := fmt.Sprintf("user-%02d", u)
			name := fmt.Sprintf("jupyter-%s-%d", user, seq)
			pod := builder.MakeUserPod(name, hubNS, user).Container("notebook", image).Label("app", "jupyterhub").Obj()
			if arm != "" {
				pod.Labels[loadArmLabel] = arm
			}
			t0 := time.Now()
			_, err := s.cs.CoreV1().Pods(hubNS).Create(ctx, pod, metav1.CreateOptions{})
			c := create{at: t0, latency: time.Since(t0), err: err, arm: arm}
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				s.current[u] = name
			}
			s.mu.Lock()
			s.creates = append(s.creates, c)
			s.mu.Unlock()
		}()
	}
}

// window is what the spawner saw between two instants.
type window struct {
	attempted, succeeded int
	slow                 int // creates that took over a second
	admission            int // creates that failed in admission (a webhook's doing)
	p50, p99, max        time.Duration
	errs                 []string
}

func (s *spawner) window(from, to time.Time) window {
	return s.windows([][2]time.Time{{from, to}})
}

// windows pools what the spawner saw in several spans [from, to).
func (s *spawner) windows(spans [][2]time.Time) window { return s.armWindows("", spans) }

// armWindows is windows for the creates of one arm of a split stream ("":
// all of them).
func (s *spawner) armWindows(arm string, spans [][2]time.Time) window {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w window
	var lat []time.Duration
	for _, c := range s.creates {
		if arm != "" && c.arm != arm {
			continue
		}
		if !slices.ContainsFunc(spans, func(sp [2]time.Time) bool { return !c.at.Before(sp[0]) && c.at.Before(sp[1]) }) {
			continue
		}
		w.attempted++
		if c.err != nil {
			if strings.Contains(c.err.Error(), "admission webhook") {
				w.admission++
			}
			if len(w.errs) < 5 {
				w.errs = append(w.errs, c.err.Error())
			}
			continue
		}
		w.succeeded++
		if c.latency > time.Second {
			w.slow++
		}
		lat = append(lat, c.latency)
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		w.p50, w.p99, w.max = lat[(n-1)/2], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return w
}
