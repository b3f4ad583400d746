package puller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller/policy"
	"prepuller.dev/prepuller/puller/pullsecrets"
)

// NodeInventory is what the puller needs from the node inventory (package
// pkg/inventory implements it).
type NodeInventory interface {
	// SizeOf returns an image's size as some node reports it.
	SizeOf(image string) (int64, bool)
	// HolderCount is the number of eligible nodes holding the image.
	HolderCount(image string) int
	// EligibleNodes is the number of nodes user pods may run on.
	EligibleNodes() int
	// NodeImages are the images a node holds, and whether user pods may
	// run there (placement).
	NodeImages(node string) ([]string, bool)
}

// Deps are what Setup needs besides options.
type Deps struct {
	// Namespace is prepuller's namespace: the DaemonSet and state live there.
	Namespace string
	// Scope decides which user pods are learned from. Required: it is the
	// one the webhook decides with (userpod.Options.Scope, parsed once), so
	// the watch leaves alone exactly the pods the webhook leaves alone.
	Scope *userpod.Scope
	// Inventory may be nil (sizes and node shares are then unknown).
	Inventory NodeInventory
	// Clock is optional; nil uses the real clock. Every timer of the
	// puller (write window, rollout hold, stall detection, state flush,
	// admission expiry) reads it.
	Clock clock.PassiveClock
	// Metrics is where the puller's series are registered; nil uses
	// controller-runtime's registry, which the manager serves.
	Metrics prometheus.Registerer
}

// admissionQueueSize bounds the admissions waiting to be confirmed by the
// pod watch, and the confirmed pods waiting for the reconciler.
const admissionQueueSize = 4096

// Setup adds the puller reconciler to the manager and returns the recorder
// the webhook reports admissions to. The reconciler, and the cache of user
// pods only it reads, run on the leader only.
func Setup(mgr manager.Manager, opts Options, deps Deps) (imageset.Recorder, error) {
	r, err := newReconciler(mgr, opts, deps)
	if err != nil {
		return nil, err
	}
	leaderCache, err := cache.New(mgr.GetConfig(), leaderCacheOptions(mgr, opts, deps))
	if err != nil {
		return nil, fmt.Errorf("creating the leader's cache: %w", err)
	}
	if err := mgr.Add(leaderOnly{leaderCache}); err != nil {
		return nil, fmt.Errorf("adding the leader's cache: %w", err)
	}
	r.userPods = leaderCache
	r.daemonSets = leaderCache
	if err := pullsecrets.Setup(mgr, opts.MirrorPullSecrets, deps.Namespace, deps.Metrics); err != nil {
		return nil, err
	}

	err = ctrl.NewControllerManagedBy(mgr).
		Named("puller").
		WithOptions(controller.Options{
			// One writer of one object: the reconciler owns the image
			// set and needs no locks.
			MaxConcurrentReconciles: 1,
			RecoverPanic:            ptr.To(true),
			// controller-runtime refuses a second controller of one name
			// in a process; tests and the simulator run several
			// prepullers in one.
			SkipNameValidation: ptr.To(true),
			RateLimiter:        workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, 2*time.Minute),
		}).
		// One reconcile at start, events or not: an empty cluster still
		// needs its (empty) DaemonSet, and a restored state its sync.
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			q.Add(r.key())
			return nil
		})).
		WatchesRawSource(source.Kind(leaderCache, &corev1.Pod{}, r.userPodHandler())).
		WatchesRawSource(source.Kind(leaderCache, &appsv1.DaemonSet{}, wakeHandler[*appsv1.DaemonSet](r.key()), predicate.NewTypedPredicateFuncs(r.isOwnDaemonSet))).
		WatchesRawSource(source.Kind(mgr.GetCache(), &corev1.Pod{}, wakeHandler[*corev1.Pod](r.key()), predicate.NewTypedPredicateFuncs(r.isPullerPod))).
		Complete(r)
	if err != nil {
		return nil, fmt.Errorf("building puller controller: %w", err)
	}
	// The admissions are confirmed by the leader only; a follower's webhook
	// drops them (the leader's watch sees every pod that exists anyway).
	go func() {
		<-mgr.Elected()
		r.admissions.lead()
	}()
	return r.admissions, nil
}

func newReconciler(mgr manager.Manager, opts Options, deps Deps) (*reconciler, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid puller options: %w", err)
	}
	if deps.Namespace == "" {
		return nil, errors.New("namespace must not be empty")
	}
	if deps.Scope == nil || deps.Scope.Selector == nil || deps.Scope.Selector.Empty() {
		// Empty would make every pod in the cluster a user pod.
		return nil, errors.New("a user pod scope with a selector is required")
	}
	pol, err := policy.New(opts.Allow, opts.Deny)
	if err != nil {
		return nil, fmt.Errorf("puller policy: %w", err)
	}
	static, err := opts.StaticRefs()
	if err != nil {
		return nil, err
	}
	clk := deps.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	reg := deps.Metrics
	if reg == nil {
		reg = crmetrics.Registry
	}
	m, err := newPullerMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &reconciler{
		m:          m,
		opts:       opts,
		ns:         deps.Namespace,
		inv:        deps.Inventory,
		clock:      clk,
		scope:      deps.Scope,
		pullerSel:  PodSelector(opts),
		policy:     pol,
		static:     static,
		norm:       imageref.NewCache(normCacheSize),
		client:     mgr.GetClient(),
		reader:     mgr.GetAPIReader(),
		pullerPods: mgr.GetCache(),
		events:     mgr.GetEventRecorder("prepuller-puller"),
		admissions: newAdmissions(admissionQueueSize, clk, m),
		warned:     newWarnedSet(maxWarned),
	}, nil
}

// leaderCacheOptions: user pods (stripped of managed fields) in the scope's
// namespaces, and the puller's own DaemonSet. Only the leader reads them, so
// only the leader holds them: a follower's memory is the webhook's.
func leaderCacheOptions(mgr manager.Manager, opts Options, deps Deps) cache.Options {
	podCfg := deps.Scope.PodCache()
	return cache.Options{
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: podCfg,
			// Both puller DaemonSets, by name: a field selector matches
			// one name, so the namespace's DaemonSets are cached and the
			// watch filters by name (isOwnDaemonSet). A label selector
			// would lose a DaemonSet whose labels were edited.
			&appsv1.DaemonSet{}: {
				Namespaces: map[string]cache.Config{deps.Namespace: {}},
			},
		},
	}
}

// CacheByObject is what the manager's shared cache, which every replica
// starts, must hold for the puller: its pods in prepuller's namespace (the
// node inventory reads them on every replica; the reconciler reads them
// for quarantine). User pods are not in it: see leaderCacheOptions.
func CacheByObject(opts Options, namespace string) map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Pod{}: {Namespaces: map[string]cache.Config{namespace: {LabelSelector: PodSelector(opts)}}},
	}
}

// leaderOnly starts a cache on the leader only.
type leaderOnly struct{ cache.Cache }

var (
	_ manager.Runnable               = leaderOnly{}
	_ manager.LeaderElectionRunnable = leaderOnly{}
)

func (leaderOnly) NeedLeaderElection() bool { return true }

func (l leaderOnly) Start(ctx context.Context) error { return l.Cache.Start(ctx) }
