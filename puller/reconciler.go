package puller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller/policy"
)

// normCacheSize bounds the reconciler's normalization memo: every sync
// reads every live user pod and puller pod, and they name the same few
// images.
const normCacheSize = 4096

// reconciler is the one writer of the puller DaemonSet and its state. It
// reconciles one key (the DaemonSet) on the leader only, with one worker,
// so the image set it owns needs no locks. controller-runtime gives it
// panic recovery and rate-limited retries of failed syncs.
type reconciler struct {
	m         *pullerMetrics
	opts      Options
	ns        string
	inv       NodeInventory
	clock     clock.PassiveClock
	scope     *userpod.Scope
	pullerSel labels.Selector
	policy    *policy.Policy
	static    []string
	norm      *imageref.Cache

	client     client.Client // writes, and reads of the state
	reader     client.Reader // uncached reads when loading or on conflict
	userPods   client.Reader // the leader's cache: user pods
	daemonSets client.Reader // the leader's cache: the puller DaemonSet
	pullerPods client.Reader // the shared cache: puller pods
	events     recorder.EventRecorder

	admissions *admissions

	// Owned by the one worker.
	set *imageset.Set
	// due is when the next full sync runs. An event pulls it in to one
	// write interval from now at the latest, so what arrives together is
	// written together; a sync pushes it out to the next resync.
	due       time.Time
	lastWrite time.Time // the last DaemonSet write
	// When this leader first held a write for a rollout it did not start
	// (lastWrite is zero then); zero after a write.
	holdingSince time.Time
	progress     rolloutProgress // when the live rollout last replaced a pod
	lastState    time.Time       // the last state write
	savedPrint   string          // fingerprint of the last written state
	savedData    string          // the last written state
	lastTallies  time.Time       // the last write of the DaemonSet's tallies
	held         map[string]bool // images held at the last evaluation
	// The spec of this leader's last DaemonSet write, and when it last
	// said that another client changed it.
	lastWrittenSpec string
	lastRevertEvent time.Time
	holdReports     map[imageset.Hold]*holdReport
	warned          *warnedSet
	counted         map[types.UID]bool // live user pods already counted
	shared          map[string]bool    // images with a node share series
	// Warning Events already emitted for the current episode.
	installWarned bool
	stateWarned   bool
}

var _ reconcile.Reconciler = &reconciler{}

// Reconcile learns what changed and, once the write window is over, syncs
// the state and the DaemonSet. An error is retried with backoff by
// controller-runtime; a held write comes back with RequeueAfter.
func (r *reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	log := logf.FromContext(ctx)
	if r.set == nil {
		// Starting with an empty set would drop every image: no sync
		// until the state is read (retried with backoff).
		if err := r.load(ctx); err != nil {
			return reconcile.Result{}, err
		}
	}
	now := r.clock.Now()
	r.observeConfirmed(now)
	r.admissions.expire(now)

	if wait := r.schedule(now); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	retry, err := r.sync(ctx, now)
	r.m.syncs.Inc()
	if err != nil {
		r.m.syncErrors.Inc()
		// A failed sync is due again as soon as the backoff allows.
		r.due = time.Time{}
		return reconcile.Result{}, fmt.Errorf("puller sync: %w", err)
	}
	after := r.opts.ResyncInterval.Duration
	if !retry.IsZero() {
		if d := retry.Sub(now); d < after {
			after = max(d, time.Millisecond)
		}
	}
	r.due = now.Add(after)
	log.V(1).Info("Synced", "next", after)
	return reconcile.Result{RequeueAfter: after}, nil
}

// schedule says how long to wait before the next full sync; zero syncs now.
// The first call after a quiet period opens a window of WriteInterval:
// everything learned in it goes out in one sync at its end.
func (r *reconciler) schedule(now time.Time) time.Duration {
	if r.due.IsZero() {
		return 0 // start, or after an error
	}
	if window := now.Add(r.opts.WriteInterval.Duration); window.Before(r.due) {
		r.due = window
	}
	if now.Before(r.due) {
		return r.due.Sub(now)
	}
	return 0
}

// key is the reconciler's one request: every watched event maps to it.
func (r *reconciler) key() reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: r.ns, Name: r.opts.DaemonSetName}}
}
