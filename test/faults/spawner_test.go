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
}

// spawner creates user pods at a fixed rate until its context ends.
type spawner struct {
	cs *kubernetes.Clientset

	mu      sync.Mutex
	creates []create
}

// maxInFlight bounds the creates waiting on the API server at once; past
// it a tick waits, and the missed rate shows as fewer attempts.
const maxInFlight = 64

// run creates pods open loop: a create starts every tick whatever earlier
// ones still wait for, as users keep arriving while admission is slow.
func (s *spawner) run(ctx context.Context) {
	rng := rand.New(rand.NewPCG(14, 14))
	zipf := rand.NewZipf(rng, zipfS, 1, imageCount-1)
	tick := time.NewTicker(time.Second / spawnRate)
	defer tick.Stop()
	var (
		wg       sync.WaitGroup
		inFlight = make(chan struct{}, maxInFlight)
		userMu   [users]sync.Mutex // one server per user: a user's spawns run in order
		current  [users]string     // user -> pod name
	)
	defer wg.Wait()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		u, image := rng.IntN(users), imageName(int(zipf.Uint64()))
		select {
		case <-ctx.Done():
			return
		case inFlight <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			userMu[u].Lock()
			defer userMu[u].Unlock()
			if old := current[u]; old != "" {
				// Not timed: the stop of a server is not what the webhook sees.
				_ = s.cs.CoreV1().Pods(hubNS).Delete(ctx, old, metav1.DeleteOptions{})
			}
			user := fmt.Sprintf("user-%02d", u)
			name := fmt.Sprintf("jupyter-%s-%d", user, seq)
			pod := builder.MakeUserPod(name, hubNS, user).Container("notebook", image).Label("app", "jupyterhub").Obj()
			t0 := time.Now()
			_, err := s.cs.CoreV1().Pods(hubNS).Create(ctx, pod, metav1.CreateOptions{})
			c := create{at: t0, latency: time.Since(t0), err: err}
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				current[u] = name
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
	s.mu.Lock()
	defer s.mu.Unlock()
	var w window
	var lat []time.Duration
	for _, c := range s.creates {
		if c.at.Before(from) || !c.at.Before(to) {
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
