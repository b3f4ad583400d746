package puller

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller/policy"
)

// controller is the one writer of the puller DaemonSet and its state. It
// runs on the leader only, in one goroutine that owns the image set, so the
// set needs no locks.
type controller struct {
	opts      Options
	ns        string
	inv       NodeInventory
	clock     clock.PassiveClock
	userSel   labels.Selector
	scope     *userpod.Scope // which user pods are learned: the webhook's
	pullerSel labels.Selector
	policy    *policy.Policy
	static    []string

	client client.Client // writes
	reader client.Reader // uncached reads of the DaemonSet and state
	cache  cache.Cache   // pods and DaemonSet events
	events recorder.EventRecorder

	queue *sightingQueue
	wake  chan struct{}

	// Owned by the Start goroutine.
	set       *imageset.Set
	lastWrite time.Time // real time of the last DaemonSet write
	// Real time this leader first held a write for a rollout it did not
	// start (lastWrite is zero then); zero after a write.
	holdingSince time.Time
	progress     rolloutProgress // when the live rollout last replaced a pod
	lastState    time.Time       // real time of the last state write
	savedPrint   string          // fingerprint of the last written state
	savedData    string          // the last written state
	warned       map[string]bool
	counted      map[types.UID]bool // live user pods already counted
	shared       map[string]bool    // images with a node share series
	// Warning Events already emitted for the current episode.
	installWarned bool
	stateWarned   bool
}

var (
	_ manager.Runnable               = &controller{}
	_ manager.LeaderElectionRunnable = &controller{}
)

// NeedLeaderElection: only the leader writes the DaemonSet and state.
func (c *controller) NeedLeaderElection() bool { return true }

// Start runs until ctx ends (the manager stops or leadership is lost).
func (c *controller) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("puller")
	ctx = logf.IntoContext(ctx, log)
	c.queue.leader.Store(true)
	defer c.queue.leader.Store(false)

	for _, obj := range []client.Object{&corev1.Pod{}, &appsv1.DaemonSet{}} {
		inf, err := c.cache.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("puller: watching %T: %w", obj, err)
		}
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.poke() },
			UpdateFunc: func(any, any) { c.poke() },
			DeleteFunc: func(any) { c.poke() },
		})
		if err != nil {
			return fmt.Errorf("puller: watching %T: %w", obj, err)
		}
		defer func() { _ = inf.RemoveEventHandler(reg) }()
	}
	if !c.cache.WaitForCacheSync(ctx) {
		return nil // stopping
	}
	if err := c.loadWithRetry(ctx); err != nil {
		return nil //nolint:nilerr // only ctx ends the retries: stopping
	}
	c.run(ctx)
	return nil
}

func (c *controller) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run is the batching loop. The first change after a quiet period opens a
// window of WriteInterval; everything that arrives in it is written in one
// sync at its end. A sync writes the DaemonSet at most once, and never
// sooner than WriteInterval after the previous write.
func (c *controller) run(ctx context.Context) {
	log := logf.FromContext(ctx)
	interval := c.opts.WriteInterval.Duration
	timer := time.NewTimer(0) // first sync at once: restore what changed while down
	defer timer.Stop()
	next := time.Now()
	dirty := true
	// Go 1.23+ timers: Reset never delivers a stale expiry.
	schedule := func(at time.Time) {
		next = at
		timer.Reset(time.Until(at))
	}
	markDirty := func() {
		if dirty {
			return
		}
		dirty = true
		at := time.Now().Add(interval)
		if w := c.lastWrite.Add(interval); w.After(at) {
			at = w
		}
		if at.Before(next) {
			schedule(at)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-c.queue.ch:
			if c.observe(s) {
				markDirty()
			}
		case <-c.wake:
			markDirty()
		case <-timer.C:
			dirty = false
			retry, err := c.sync(ctx)
			syncs.Inc()
			if err != nil {
				syncErrors.Inc()
				log.Error(err, "Puller sync failed; retrying", "after", interval)
				retry = time.Now().Add(interval)
			}
			at := time.Now().Add(c.opts.ResyncInterval.Duration)
			if !retry.IsZero() && retry.Before(at) {
				at = retry
			}
			schedule(at)
		}
	}
}

// observe adds a webhook sighting, returning whether it was usable. The
// webhook normalized the image already (imageset.Sighting's contract), with
// its memo; parsing it again here would only cost time.
func (c *controller) observe(s imageset.Sighting) bool {
	if s.Image == "" {
		sightings.WithLabelValues("invalid").Inc()
		return false
	}
	if s.Time.IsZero() {
		s.Time = c.clock.Now()
	}
	c.set.Observe(s)
	return true
}
